/**
 * Which notebook cell a reported line belongs to.
 *
 * A report says "line 27 of `rnn_loss_grads`": the line number counts from
 * the top of the source the function was compiled from, which for a function
 * written in the notebook is the cell that defines it.  This module finds
 * that cell from the cells' sources alone.  No DOM and no JupyterLab imports:
 * this module is unit-tested under Node.
 */

import { SourceLocation } from './report';

/** What the lookup needs to know about one code cell. */
export interface CodeCell {
  id: string;
  source: string;
  executionCount: number | null;
}

/** A line of a cell (1-based, as reports count). */
export interface CellLine {
  cellId: string;
  line: number;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function defines(keyword: 'def' | 'class', name: string, source: string): boolean {
  const pattern = keyword === 'def' ? `(async[ \\t]+)?def` : 'class';
  return new RegExp(`^[ \\t]*${pattern}[ \\t]+${escapeRegExp(name)}\\b`, 'm').test(source);
}

/**
 * The cell that defines the function `location.name` (a qualified name such as
 * `RNN.bptt` is looked up by its last part, preferring cells that also define
 * the class), or `checkedCell` when the location has no function.  Of several
 * definitions the one run last wins, since that is the one the check called.
 * `null` when no cell defines it (an imported function, a line of a module
 * file) or the line is past the cell's end.
 */
export function findDefinition(
  cells: readonly CodeCell[],
  location: SourceLocation,
  checkedCell: string | null
): CellLine | null {
  let cell: CodeCell | undefined;
  if (location.file !== null) {
    return null; // a module's line: no cell holds it
  }
  if (location.name === null) {
    cell = cells.find(c => c.id === checkedCell);
  } else {
    const parts = location.name.split('.');
    const name = parts[parts.length - 1];
    const owner = parts.length > 1 ? parts[parts.length - 2] : null;
    let candidates = cells.filter(c => defines('def', name, c.source));
    if (owner !== null && candidates.some(c => defines('class', owner, c.source))) {
      candidates = candidates.filter(c => defines('class', owner, c.source));
    }
    // The last run definition, else the last one in the notebook.
    cell = candidates.reduce<CodeCell | undefined>(
      (best, c) =>
        best === undefined || (c.executionCount ?? -1) >= (best.executionCount ?? -1) ? c : best,
      undefined
    );
  }
  if (cell === undefined || location.line > cell.source.split('\n').length) {
    return null;
  }
  return { cellId: cell.id, line: location.line };
}
