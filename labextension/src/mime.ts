/**
 * A JupyterLab renderer for `application/vnd.nbgrad.report+json`.
 *
 * It draws a report from its JSON alone, so a notebook opened without a
 * kernel (widgets dead) still shows the verdict, the per-block table or the
 * first divergence, laid out like the static HTML of `nbgrad.report` but in
 * the theme's colours (dark themes included).  All strings go in through
 * `textContent`: labels, source lines and error messages are user-supplied.
 */

import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import { Child, copyIndicesButton, element, lineLink } from './dom';
import {
  failingIndices,
  finiteOrNull,
  formatRelError,
  isObject,
  JSONObject,
  parseReport,
  REPORT_MIME_TYPE,
  sourceLocation,
  statusTone,
  stringOrNull
} from './report';


function objects(value: unknown): JSONObject[] {
  return Array.isArray(value) ? value.filter(isObject) : [];
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

function text(value: unknown, fallback = '—'): string {
  if (typeof value === 'number' && Number.isFinite(value)) {
    return String(value);
  }
  return stringOrNull(value) ?? fallback;
}

function table(className: string, headings: string[], rows: Child[][]): HTMLElement {
  const head = element('tr', '', ...headings.map(heading => element('th', '', heading)));
  const body = rows.map(cells => element('tr', '', ...cells.map(cell => element('td', '', cell))));
  return element(
    'table',
    `nbgrad-Report-table ${className}`,
    element('thead', '', head),
    element('tbody', '', ...body)
  );
}

function blockDiagnosis(block: JSONObject): string {
  const scale = finiteOrNull(block.scale);
  const codes = strings(block.diagnoses).map(code =>
    code === 'scale' && scale !== null ? `scale (c = ${scale.toPrecision(3)})` : code
  );
  return codes.join(', ') || '—';
}

function gradcheckBody(report: JSONObject): HTMLElement[] {
  const rows = objects(report.blocks).map(block => [
    element('code', '', text(block.name)),
    Array.isArray(block.shape) ? `(${block.shape.join(', ')})` : '—',
    formatRelError(finiteOrNull(block.max_rel_error)),
    `${text(block.n_flagged)} / ${text(block.checked)}`,
    blockDiagnosis(block)
  ]);
  const headings = ['block', 'shape', 'max rel. error', 'wrong / checked', 'diagnosis'];
  const parts = [table('nbgrad-Report-blocks', headings, rows)];
  const indices = failingIndices(report.blocks);
  if (indices !== null) {
    parts.push(element('div', 'nbgrad-Report-actions', copyIndicesButton(indices)));
  }
  const findings = objects(report.findings).map(finding => {
    const confidence = finiteOrNull(finding.confidence);
    const sure = confidence === null ? '' : `${Math.round(confidence * 100)} % `;
    return element('li', '', element('strong', '', sure), text(finding.message, ''));
  });
  if (findings.length > 0) {
    parts.push(element('ul', 'nbgrad-Report-findings', ...findings));
  }
  parts.push(
    element(
      'div',
      'nbgrad-Report-meta',
      `mode ${text(report.mode)} · ${text(report.evaluations)} evaluations · ` +
        `tolerance ${formatRelError(finiteOrNull(report.tolerance))}`
    )
  );
  return parts;
}

function sourceContext(divergence: JSONObject): HTMLElement | null {
  const line = finiteOrNull(divergence.line);
  const context = objects(divergence.context);
  const source = stringOrNull(divergence.source);
  const entries = context.length > 0 || source === null ? context : [{ line, text: source }];
  if (entries.length === 0) {
    return null;
  }
  const lines = entries.map(entry => {
    const number = finiteOrNull(entry.line);
    const className = number !== null && number === line ? 'nbgrad-Report-source-hit' : '';
    return element('span', className, `${String(number ?? '').padStart(5)} | ${text(entry.text, '')}\n`);
  });
  return element('pre', 'nbgrad-Report-source', ...lines);
}

/** `, at ` and the link to `value`'s line, or nothing when it names none. */
function atLine(value: JSONObject): Child[] {
  const location = sourceLocation(value);
  return location === null ? [] : [', at ', lineLink(location)];
}

function divergenceBody(divergence: JSONObject): HTMLElement[] {
  const where = `step ${text(divergence.step)}, variable ${text(divergence.variable)}`;
  const confidence = finiteOrNull(divergence.cause_confidence);
  const cause = element(
    'div',
    'nbgrad-Report-cause',
    element('strong', '', text(divergence.cause)),
    confidence === null ? '' : ` (confidence ${Math.round(confidence * 100)} %)`,
    `: ${text(divergence.explanation, '')}`
  );
  const context = sourceContext(divergence);
  const parts = [
    element('div', 'nbgrad-Report-where', `First divergence: ${where}`, ...atLine(divergence)),
    ...(context === null ? [] : [context]),
    cause
  ];
  // The edit that removes the cause (none for `unknown` and `inconclusive`).
  const fix = isObject(divergence.fix) && divergence.fix.kind !== 'none' ? divergence.fix : null;
  const summary = fix === null ? null : stringOrNull(fix.summary);
  if (summary !== null) {
    parts.push(element('div', 'nbgrad-Report-fix', element('strong', '', 'fix: '), summary));
  }
  const allocation = isObject(divergence.allocation) ? divergence.allocation : null;
  if (allocation !== null) {
    parts.push(
      element(
        'div',
        'nbgrad-Report-allocation',
        `allocated by ${text(allocation.call)}`,
        ...atLine(allocation),
        `: ${text(allocation.source, '')}`
      )
    );
  }
  return parts;
}

function determinismBody(report: JSONObject): HTMLElement[] {
  const parts: HTMLElement[] = [];
  if (isObject(report.first_divergence)) {
    parts.push(...divergenceBody(report.first_divergence));
  }
  if (isObject(report.error)) {
    const error = report.error;
    parts.push(
      element(
        'pre',
        'nbgrad-Report-error',
        `run ${text(error.run)} raised ${text(error.type)}: ${text(error.message, '')}`
      )
    );
  }
  const experiments = objects(report.experiments).map(experiment => [
    text(experiment.name),
    text(experiment.poison),
    text(experiment.rng),
    text(experiment.outcome),
    text(experiment.first_step)
  ]);
  if (experiments.length > 0) {
    parts.push(
      table(
        'nbgrad-Report-experiments',
        ['experiment', 'poison', 'rng', 'outcome', 'first step'],
        experiments
      )
    );
  }
  parts.push(
    element(
      'div',
      'nbgrad-Report-meta',
      `${text(report.runs)} runs · ${text(report.steps)} steps · ${text(report.backend)} · ` +
        `tracked: ${strings(report.tracked).join(', ') || '—'}`
    )
  );
  return parts;
}

/** What the checked code did outside the namespace while it was rerun (the engines' words). */
function sideEffects(value: unknown): HTMLElement[] {
  const messages = objects(value).map(effect => element('li', '', text(effect.message, '')));
  return messages.length === 0 ? [] : [element('ul', 'nbgrad-Report-sideEffects', ...messages)];
}

/** The whole report as DOM, or a one-line notice when it cannot be read. */
function renderReport(value: unknown): HTMLElement {
  const parsed = parseReport(value);
  if (!parsed.ok) {
    return element(
      'div',
      'nbgrad-Report nbgrad-Report-unreadable',
      `This nbgrad report cannot be shown: ${parsed.reason}.`
    );
  }
  const summary = parsed.report;
  const raw = value as JSONObject;
  const tone = statusTone(summary.status);
  const root = element(
    'div',
    `nbgrad-Report nbgrad-tone-${tone}`,
    element(
      'div',
      'nbgrad-Report-headline',
      element('span', `nbgrad-Report-badge nbgrad-tone-${tone}`, summary.status),
      element('span', '', summary.headline)
    ),
    element('div', 'nbgrad-Report-label', element('code', '', summary.label)),
    ...(summary.kind === 'gradcheck' ? gradcheckBody(raw) : determinismBody(raw)),
    ...sideEffects(raw.side_effects)
  );
  root.dataset.kind = summary.kind;
  root.dataset.status = summary.status;
  return root;
}

/**
 * The bundle's static HTML (heatmaps, step curve, worst elements) folded under
 * the summary, so outranking `text/html` loses nothing.  It goes through
 * JupyterLab's sanitiser, exactly as the HTML renderer would put it.
 */
function staticDetails(html: unknown, sanitizer: IRenderMime.ISanitizer): HTMLElement | null {
  if (typeof html !== 'string' || html === '') {
    return null;
  }
  const body = element('div', 'nbgrad-Report-static-body');
  body.innerHTML = sanitizer.sanitize(html);
  return element(
    'details',
    'nbgrad-Report-static',
    element('summary', '', 'Full report: heatmaps, plots, worst elements'),
    body
  );
}

/** The report from its JSON, the bundle's static HTML folded under it. */
export class ReportRenderer extends Widget implements IRenderMime.IRenderer {
  constructor(options: IRenderMime.IRendererOptions) {
    super();
    this._sanitizer = options.sanitizer;
    this.addClass('nbgrad-ReportRenderer');
  }

  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const report = renderReport(model.data[REPORT_MIME_TYPE]);
    const details = staticDetails(model.data['text/html'], this._sanitizer);
    this.node.replaceChildren(...(details === null ? [report] : [report, details]));
    return Promise.resolve();
  }

  private _sanitizer: IRenderMime.ISanitizer;
}

/**
 * Rank: lower wins.  ipywidgets' jupyterlab-manager registers the live widget
 * view (`application/vnd.jupyter.widget-view+json`) at -10 and JupyterLab's
 * `text/html` renderer has default rank 50: anywhere but a notebook (a
 * console, an output view) a bundle of all three shows the widget while it
 * is live, and this renderer, not the plain static HTML, for a bundle
 * without a view.  In a notebook `widgetview.ts` outranks the view for
 * nbgrad's bundles and falls back to this renderer when the model is gone.
 */
const RANK = 40;

const extension: IRenderMime.IExtension = {
  id: 'nbgrad:report-renderer',
  description: 'Renders nbgrad gradient and determinism reports from their JSON',
  rendererFactory: {
    safe: true,
    mimeTypes: [REPORT_MIME_TYPE],
    defaultRank: RANK,
    createRenderer: options => new ReportRenderer(options)
  },
  rank: RANK,
  dataType: 'json'
};

export default extension;
