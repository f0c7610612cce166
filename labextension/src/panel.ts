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
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { Signal } from '@lumino/signaling';
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
import { REPORT_MIME_TYPE, statusTone } from './report';

/** Where the panel sends the user: the shell, to bring the notebook forward. */
export interface IShellLike {
  activateById(id: string): void;
}

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

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
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

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
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
    header.append(element('h2', 'nbgrad-ChecksPanel-title', 'nbgrad checks'), this._summary, filter);
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
    if (!this._panel || !model) {
      this._rows = [];
    } else {
      let history = this._histories.get(model);
      if (history === undefined) {
        history = new CheckHistory();
        this._histories.set(model, history);
      }
      this._rows = buildRows(Array.from(model.cells, snapshotCell), history);
    }
    this._render();
  }

  private _render(): void {
    const { total, failing } = summarize(this._rows);
    this._summary.textContent =
      total === 0 ? '' : `${total} check${total === 1 ? '' : 's'} · ${failing} failing`;
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

    const figure = element('div', 'nbgrad-ChecksPanel-figure');
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
      element('span', 'nbgrad-ChecksPanel-label', row.label),
      element('span', 'nbgrad-ChecksPanel-count', `[${row.executionCount ?? ' '}]`),
      rerun
    );
    item.append(top, figure);
    item.addEventListener('click', () => void this._goToCell(row.cellId));
    item.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        void this._goToCell(row.cellId);
      }
    });
    return item;
  }

  /** Bring the notebook forward, make the cell the active one and scroll to it. */
  private async _goToCell(cellId: string): Promise<boolean> {
    const panel = this._panel;
    if (panel === null) {
      return false;
    }
    const notebook = panel.content;
    const index = notebook.widgets.findIndex(cell => cell.model.id === cellId);
    if (index < 0) {
      return false;
    }
    this._shell.activateById(panel.id);
    notebook.activeCellIndex = index;
    notebook.deselectAll();
    await notebook.scrollToCell(notebook.widgets[index], 'start');
    return true;
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
  private _rows: CheckRow[] = [];
  private _histories = new WeakMap<object, CheckHistory>();
  private _summary = element('span', 'nbgrad-ChecksPanel-summary');
  private _list = element('ul', 'nbgrad-ChecksPanel-list');
}
