/**
 * The sidebar: every nbgrad check of the active notebook, live.
 *
 * It listens to everything that can change the list (the active notebook,
 * cells added, deleted or moved, outputs appended or cleared, execution
 * counts) and answers each burst of changes with one rescan of the notebook
 * on the next animation frame; `checklist.ts` turns the scan into rows.
 * Plain DOM with `textContent` only: report strings are user-supplied.
 */

import { ICellModel, ICodeCellModel } from '@jupyterlab/cells';
import { INotebookModel, INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import {
  buildRows,
  CellSnapshot,
  CheckHistory,
  CheckRow,
  filterRows,
  Outcome,
  summarize
} from './checklist';
import { breakable, copyIndicesButton, element, lineLink } from './dom';
import { goToCell, IShellLike } from './navigate';
import { isObject, REPORT_MIME_TYPE, statusTone } from './report';

/** The notebook metadata key under which the panel keeps its history. */
const METADATA_KEY = 'nbgrad';

function snapshotCell(cell: ICellModel): CellSnapshot {
  if (cell.type !== 'code') {
    return { id: cell.id, executionCount: null, reports: [] };
  }
  const code = cell as ICodeCellModel;
  const reports: unknown[] = [];
  for (let i = 0; i < code.outputs.length; i++) {
    const data = code.outputs.get(i).data;
    if (REPORT_MIME_TYPE in data) {
      reports.push(data[REPORT_MIME_TYPE]);
    }
  }
  return { id: cell.id, executionCount: code.executionCount ?? null, reports };
}

/** The notebook's `nbgrad` metadata, `{}` when it has none (or something unreadable). */
function nbgradMetadata(model: INotebookModel): { [key: string]: unknown } {
  const value: unknown = model.getMetadata(METADATA_KEY);
  return isObject(value) ? value : {};
}

function outcomeNode(outcome: Outcome, className: string): HTMLElement {
  return element('span', `${className} nbgrad-tone-${outcome.tone}`, outcome.figure);
}

export class ChecksPanel extends Widget {
  constructor(tracker: INotebookTracker, shell: IShellLike) {
    super();
    this._tracker = tracker;
    this._shell = shell;
    this.addClass('nbgrad-ChecksPanel');
    this.node.append(this._buildHeader(), this._list);
    tracker.currentChanged.connect(this._watchCurrent, this);
    this._watchCurrent();
  }

  /** Emitted once, the first time the panel has a check to show. */
  get firstChecks(): ISignal<this, void> {
    return this._firstChecks;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    Signal.clearData(this);
    Signal.disconnectReceiver(this._receiver);
    cancelAnimationFrame(this._frame);
    super.dispose();
  }

  private _buildHeader(): HTMLElement {
    const header = element('div', 'nbgrad-ChecksPanel-header');
    const filter = element('label', 'nbgrad-ChecksPanel-filter');
    const checkbox = element('input', 'nbgrad-ChecksPanel-failingOnly');
    checkbox.type = 'checkbox';
    checkbox.addEventListener('change', () => {
      this._failingOnly = checkbox.checked;
      this._render();
    });
    filter.append(checkbox, ' failing only');
    header.append(element('h2', 'nbgrad-ChecksPanel-title', 'nbgrad'), this._summary, filter);
    return header;
  }

  /** Follow the active notebook: drop the old one's signals, wire the new one's. */
  private _watchCurrent(): void {
    Signal.disconnectReceiver(this._receiver);
    this._receiver = {};
    const panel = this._tracker.currentWidget;
    this._panel = panel;
    this._scheduleRefresh();
    if (panel === null) {
      return;
    }
    void panel.context.ready.then(() => {
      const model = panel.content.model;
      if (this._panel !== panel || model === null) {
        return;
      }
      model.cells.changed.connect(this._onCellsChanged, this._receiver);
      this._onCellsChanged();
    });
  }

  /** New or moved cells: make sure every cell's changes reach the panel. */
  private _onCellsChanged = (): void => {
    const model = this._panel?.content.model;
    if (!model) {
      return;
    }
    for (const cell of model.cells) {
      if (cell.type === 'code') {
        const code = cell as ICodeCellModel;
        // Lumino ignores a second connection of the same slot and receiver.
        code.outputs.changed.connect(this._scheduleRefresh, this._receiver);
        code.outputs.stateChanged.connect(this._scheduleRefresh, this._receiver);
        code.stateChanged.connect(this._scheduleRefresh, this._receiver);
      }
    }
    this._scheduleRefresh();
  };

  private _scheduleRefresh = (): void => {
    if (this._frame === 0) {
      this._frame = requestAnimationFrame(() => {
        this._frame = 0;
        this._refresh();
      });
    }
  };

  private _refresh(): void {
    const model = this._panel?.content.model;
    // Before the file is loaded its metadata (the saved history) is not there yet.
    if (!this._panel?.context.isReady || !model) {
      this._rows = [];
    } else {
      const history = this._history(model);
      this._rows = buildRows(Array.from(model.cells, snapshotCell), history);
      history.retain(new Set(Array.from(model.cells, cell => cell.id)));
      this._saveHistory(model, history);
    }
    this._render();
  }

  /** The notebook's history, read from its metadata the first time it is shown. */
  private _history(model: INotebookModel): CheckHistory {
    let history = this._histories.get(model);
    if (history === undefined) {
      history = CheckHistory.fromJSON(nbgradMetadata(model).history);
      this._histories.set(model, history);
    }
    return history;
  }

  /** Write the history into the notebook's metadata when (and only when) it changed. */
  private _saveHistory(model: INotebookModel, history: CheckHistory): void {
    const { history: stored, ...rest } = nbgradMetadata(model);
    const saved = history.toJSON();
    if (JSON.stringify(saved) === JSON.stringify(stored ?? {})) {
      return;
    }
    if (Object.keys(saved).length === 0 && Object.keys(rest).length === 0) {
      model.deleteMetadata(METADATA_KEY);
    } else {
      model.setMetadata(METADATA_KEY, { ...rest, history: saved });
    }
  }

  private _render(): void {
    const { total, failing } = summarize(this._rows);
    this._summary.textContent =
      total === 0 ? '' : `${total} check${total === 1 ? '' : 's'} · ${failing} failing`;
    this._summary.title = this._summary.textContent;
    if (total > 0 && !this._announced) {
      this._announced = true;
      this._firstChecks.emit();
    }
    const rows = filterRows(this._rows, this._failingOnly);
    if (rows.length === 0) {
      this._list.replaceChildren(element('li', 'nbgrad-ChecksPanel-empty', this._emptyText(total)));
      return;
    }
    this._list.replaceChildren(...rows.map(row => this._rowNode(row)));
  }

  private _emptyText(total: number): string {
    if (this._panel === null) {
      return 'Open a notebook to see its nbgrad checks.';
    }
    if (total > 0) {
      return 'No failing checks.';
    }
    return 'No nbgrad checks in this notebook yet: run %gradcheck or %determinism.';
  }

  private _rowNode(row: CheckRow): HTMLElement {
    const item = element('li', 'nbgrad-ChecksPanel-row');
    item.dataset.cellId = row.cellId;
    item.dataset.status = row.status;
    item.tabIndex = 0;
    item.title = row.headline;
    // The label gets a line of its own: the panel's whole width to wrap in.
    const label = element('div', 'nbgrad-ChecksPanel-label', ...breakable(row.label));
    label.title = row.label;

    const figure = element('span', 'nbgrad-ChecksPanel-figure');
    figure.append(element('span', 'nbgrad-ChecksPanel-kind', row.kind ?? '?'), ' ');
    if (row.previous !== null) {
      figure.append(outcomeNode(row.previous, 'nbgrad-ChecksPanel-previous'), ' → ');
    }
    figure.append(outcomeNode(row.current, 'nbgrad-ChecksPanel-current'));

    const rerun = element('button', 'nbgrad-ChecksPanel-rerun jp-Button', '↻');
    rerun.title = 'Re-run this check';
    rerun.setAttribute('aria-label', 'Re-run this check');
    rerun.addEventListener('click', event => {
      event.stopPropagation();
      void this._goToCell(row.cellId).then(found => found && this._runActiveCell());
    });

    const top = element('div', 'nbgrad-ChecksPanel-line');
    top.append(
      element('span', `nbgrad-ChecksPanel-badge nbgrad-tone-${statusTone(row.status)}`, row.status),
      figure,
      element('span', 'nbgrad-ChecksPanel-count', `[${row.executionCount ?? ' '}]`),
      rerun
    );
    item.append(top, label);
    const actions = [
      ...(row.location === null ? [] : [lineLink(row.location)]),
      ...(row.failingIndices === null ? [] : [copyIndicesButton(row.failingIndices)])
    ];
    if (actions.length > 0) {
      item.append(element('div', 'nbgrad-ChecksPanel-actions', ...actions));
    }
    item.addEventListener('click', () => void this._goToCell(row.cellId));
    item.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        void this._goToCell(row.cellId);
      }
    });
    return item;
  }

  private _goToCell(cellId: string): Promise<boolean> {
    return this._panel === null ? Promise.resolve(false) : goToCell(this._shell, this._panel, cellId);
  }

  private _runActiveCell(): void {
    const panel = this._panel;
    if (panel !== null) {
      void NotebookActions.run(panel.content, panel.sessionContext);
    }
  }

  private _tracker: INotebookTracker;
  private _shell: IShellLike;
  private _panel: NotebookPanel | null = null;
  private _receiver: object = {};
  private _frame = 0;
  private _failingOnly = false;
  private _announced = false;
  private _firstChecks = new Signal<this, void>(this);
  private _rows: CheckRow[] = [];
  private _histories = new WeakMap<INotebookModel, CheckHistory>();
  private _summary = element('span', 'nbgrad-ChecksPanel-summary');
  private _list = element('ul', 'nbgrad-ChecksPanel-list');
}
