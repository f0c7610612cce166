/**
 * The live widget of `%gradcheck … --widget` while its model exists, nbgrad's
 * report once it is gone.
 *
 * `--widget` puts the ipywidgets view (`application/vnd.jupyter.widget-view+json`)
 * and the report's JSON in ONE output.  ipywidgets' jupyterlab-manager renders
 * such a view at rank -10 and, when the model cannot be found, shows
 * "Loading widget..." for ever (no kernel: no widget manager is ever made),
 * "Error displaying widget: model not found" (a new kernel that does not hold
 * it), or nothing (the view was closed); it never falls back to the bundle's
 * other types.  So, in each notebook, the report type is given a rank below
 * that, and its renderer here asks the notebook's own widget-view renderer for
 * the live view and shows it only once that renderer has actually put a view
 * in (a child widget added); until then, and whenever the view goes away or
 * the kernel restarts, the report is shown.  Outputs without nbgrad's JSON
 * never reach this renderer: other libraries' widgets are left alone.
 */

import { NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Message, MessageLoop } from '@lumino/messaging';
import { Panel } from '@lumino/widgets';

import { ReportRenderer } from './mime';
import { fallbackWidgetModel, REPORT_MIME_TYPE, WIDGET_VIEW_MIME_TYPE } from './report';

type Session = NotebookPanel['sessionContext'];
type Registry = NotebookPanel['content']['rendermime'];
type KernelChange = Parameters<Parameters<Session['kernelChanged']['connect']>[0]>[1];

/** Below jupyterlab-manager's -10 for the widget view: an nbgrad bundle comes here first. */
const RANK = -20;

/** How long the view may take to appear before the report is shown meanwhile (ms). */
const GRACE_MS = 1000;

/** Kernel states after which no model of the old kernel can be found again. */
const GONE = new Set(['restarting', 'autorestarting', 'dead']);

class LiveWidgetOrReport extends Panel implements IRenderMime.IRenderer {
  constructor(options: IRenderMime.IRendererOptions, session: Session, rendermime: Registry) {
    super();
    this.addClass('nbgrad-LiveWidgetOrReport');
    this._session = session;
    this._rendermime = rendermime;
    this._report = new ReportRenderer(options);
    this.addWidget(this._report);
    session.statusChanged.connect(this._onStatus, this);
    session.kernelChanged.connect(this._onKernelChanged, this);
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    this._dropView();
    await this._report.renderModel(model);
    const modelId = model.trusted ? fallbackWidgetModel(model.data) : null;
    if (modelId === null) {
      this._report.show();
      return;
    }
    this._report.hide();
    void this._showView(model, this._attempt);
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._session.statusChanged.disconnect(this._onStatus, this);
    this._session.kernelChanged.disconnect(this._onKernelChanged, this);
    super.dispose();
  }

  private async _showView(model: IRenderMime.IMimeModel, attempt: number): Promise<void> {
    const current = () => attempt === this._attempt && !this.isDisposed;
    const fallBack = () => {
      if (current() && this._view === null) {
        this._report.show();
      }
    };
    window.setTimeout(fallBack, GRACE_MS);
    await this._session.ready;
    // jupyterlab-manager binds the notebook's widget-view renderer to the
    // kernel's widget manager in a continuation of this same `ready`: let it run.
    await new Promise(resolve => window.setTimeout(resolve, 0));
    if (!current()) {
      return;
    }
    if (!this._session.session?.kernel || !this._rendermime.getFactory(WIDGET_VIEW_MIME_TYPE)) {
      this._report.show(); // no kernel (no widget manager) or no widgets extension: no view
      return;
    }
    const renderer = this._rendermime.createRenderer(WIDGET_VIEW_MIME_TYPE);
    renderer.hide();
    MessageLoop.installMessageHook(renderer, (_, message) => this._onViewMessage(message));
    this._renderer = renderer;
    this.addWidget(renderer);
    // Resolves without a view when the model cannot be found (or never, with
    // no widget manager); a view that comes later still announces itself.
    await renderer.renderModel(model);
    fallBack();
  }

  /** The widget-view renderer put its view in, or the view went away (closed). */
  private _onViewMessage(message: Message): boolean {
    if (this._renderer === null) {
      return true;
    }
    if (message.type === 'child-added') {
      this._view = this._renderer;
      this._report.hide();
      this._renderer.show();
    } else if (message.type === 'child-removed') {
      this._view = null;
      this._renderer.hide();
      this._report.show();
    }
    return true;
  }

  /** Forgets the live view (its model is gone, or a new model is rendered). */
  private _dropView(): void {
    this._attempt += 1;
    this._view = null;
    this._renderer?.dispose(); // also removes its message hook
    this._renderer = null;
  }

  private _fallBackForGood(): void {
    if (this._report.isHidden || this._renderer !== null) {
      this._dropView();
      this._report.show();
    }
  }

  private _onStatus(_: Session, status: string): void {
    if (GONE.has(status)) {
      this._fallBackForGood();
    }
  }

  private _onKernelChanged(_: Session, change: KernelChange): void {
    if (change.oldValue !== null) {
      this._fallBackForGood(); // shut down or another kernel: the old kernel's models are gone
    }
  }

  private _session: Session;
  private _rendermime: Registry;
  private _report: ReportRenderer;
  /** The notebook's widget-view renderer, while it may still show the view. */
  private _renderer: IRenderMime.IRenderer | null = null;
  /** `_renderer` once it holds the live view. */
  private _view: IRenderMime.IRenderer | null = null;
  /** Bumped whenever a pending `_showView` must no longer act. */
  private _attempt = 0;
}

/** In `panel`'s outputs, nbgrad's reports come to a `LiveWidgetOrReport`. */
export function fallBackToReports(panel: NotebookPanel): void {
  const rendermime = panel.content.rendermime;
  rendermime.addFactory(
    {
      safe: true,
      mimeTypes: [REPORT_MIME_TYPE],
      createRenderer: options => new LiveWidgetOrReport(options, panel.sessionContext, rendermime)
    },
    RANK
  );
}
