/**
 * Taking the user to a cell, or to a line of a cell, of an open notebook:
 * what a click on a panel row or on "line 27 of `rnn_loss_grads`" does.
 */

import { ICodeCellModel } from '@jupyterlab/cells';
import { NotebookPanel } from '@jupyterlab/notebook';

import { SourceLocation } from './report';
import { CodeCell, findDefinition } from './source';

/** Where navigation sends the user: the shell, to bring the notebook forward. */
export interface IShellLike {
  activateById(id: string): void;
}

/** Bring the notebook forward, make the cell the active one and scroll to it. */
export async function goToCell(shell: IShellLike, panel: NotebookPanel, cellId: string): Promise<boolean> {
  const notebook = panel.content;
  const index = notebook.widgets.findIndex(cell => cell.model.id === cellId);
  if (index < 0) {
    return false;
  }
  shell.activateById(panel.id);
  notebook.activeCellIndex = index;
  notebook.deselectAll();
  await notebook.scrollToCell(notebook.widgets[index], 'start');
  return true;
}

function codeCells(panel: NotebookPanel): CodeCell[] {
  const cells: CodeCell[] = [];
  for (const cell of panel.content.model?.cells ?? []) {
    if (cell.type === 'code') {
      const code = cell as ICodeCellModel;
      cells.push({ id: cell.id, source: cell.sharedModel.getSource(), executionCount: code.executionCount ?? null });
    }
  }
  return cells;
}

/**
 * Go to the cell that defines `location`'s function (or to `checkedCell`
 * when the line is the checked cell's own) and select that line in its
 * editor.  `false` when no cell of the notebook defines it.
 */
export async function showLine(
  shell: IShellLike,
  panel: NotebookPanel,
  location: SourceLocation,
  checkedCell: string | null
): Promise<boolean> {
  const target = findDefinition(codeCells(panel), location, checkedCell);
  if (target === null || !(await goToCell(shell, panel, target.cellId))) {
    return false;
  }
  const notebook = panel.content;
  const cell = notebook.activeCell;
  if (cell === null) {
    return false;
  }
  await cell.ready;
  const editor = cell.editor;
  if (editor === null) {
    return false;
  }
  const line = target.line - 1;
  const column = editor.getLine(line)?.length ?? 0;
  const range = { start: { line, column: 0 }, end: { line, column } };
  notebook.mode = 'edit';
  editor.setSelection(range);
  editor.revealSelection(range);
  editor.focus();
  return true;
}
