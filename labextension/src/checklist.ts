/**
 * The panel's list model: which checks a notebook holds, in cell order, and
 * what each showed the time before.
 *
 * The panel rebuilds the whole list from a snapshot of the notebook whenever
 * anything changes (a notebook holds at most a few hundred outputs, so a full
 * rescan is cheaper to get right than incremental bookkeeping).  The only
 * state that survives a rebuild is the history: the moment a user cares
 * about is "1.3e-2 → 4.1e-11" after fixing a gradient, and the old report is
 * gone from the outputs by then, so it has to be remembered here — and saved
 * in the notebook's metadata (`toJSON`/`fromJSON`), so the arrow survives a
 * reload and travels with the file.
 * No DOM and no JupyterLab imports: this module is unit-tested under Node.
 */

import {
  headlineFigure,
  isObject,
  isFailing,
  parseReport,
  ReportKind,
  ReportStatus,
  ReportSummary,
  SourceLocation,
  statusTone,
  Tone
} from './report';

/** What the list needs to know about one notebook cell. */
export interface CellSnapshot {
  /** The cell model's id, stable while the cell exists (moves included). */
  id: string;
  executionCount: number | null;
  /** The values stored under the report MIME type, in output order. */
  reports: unknown[];
}

/** A figure with the colour of the status it belonged to. */
export interface Outcome {
  figure: string;
  tone: Tone;
}

/** One line of the panel. */
export interface CheckRow {
  /** Unique within the notebook: cell id, kind and position among that kind. */
  key: string;
  cellId: string;
  cellIndex: number;
  executionCount: number | null;
  /** `null` for an output nbgrad cannot read (the figure says why). */
  kind: ReportKind | null;
  label: string;
  status: ReportStatus;
  headline: string;
  current: Outcome;
  /** What the same check in the same cell showed before its last re-run. */
  previous: Outcome | null;
  /** The line a determinism check's first divergence points at. */
  location: SourceLocation | null;
  /** Flagged elements as a Python dict literal (gradient checks). */
  failingIndices: string | null;
}

/** One check slot of the history: its latest report and what it showed before. */
interface Slot {
  id: string;
  outcome: Outcome;
  previous: Outcome | null;
}

const TONES: readonly string[] = ['ok', 'bad', 'error'];

function parseOutcome(value: unknown): Outcome | null {
  if (!isObject(value) || typeof value.figure !== 'string' || !TONES.includes(value.tone as string)) {
    return null;
  }
  return { figure: value.figure, tone: value.tone as Tone };
}

/**
 * Remembers, per check slot, the last report seen and the outcome before it.
 * One instance per notebook: cell ids are only unique within a notebook (a
 * duplicated notebook keeps them).
 */
export class CheckHistory {
  /**
   * The history saved by `toJSON` (the notebook's metadata); anything
   * unreadable in it is dropped, never thrown on.
   */
  static fromJSON(value: unknown): CheckHistory {
    const history = new CheckHistory();
    for (const [key, entry] of Object.entries(isObject(value) ? value : {})) {
      const outcome = isObject(entry) ? parseOutcome(entry.outcome) : null;
      const previous = isObject(entry) ? parseOutcome(entry.previous) : null;
      if (isObject(entry) && typeof entry.id === 'string' && outcome !== null && previous !== null) {
        history._slots.set(key, { id: entry.id, outcome, previous });
      }
    }
    return history;
  }

  /** Record `report` as the latest in `key` and return the outcome before it. */
  observe(key: string, report: ReportSummary): Outcome | null {
    const slot = this._slots.get(key);
    if (slot === undefined || slot.id !== report.id) {
      this._slots.set(key, {
        id: report.id,
        outcome: outcomeOf(report),
        previous: slot === undefined ? null : slot.outcome
      });
    }
    return this._slots.get(key)!.previous;
  }

  /** Forget the slots of cells that are gone (`key` starts with the cell id). */
  retain(cellIds: ReadonlySet<string>): void {
    for (const key of [...this._slots.keys()]) {
      if (!cellIds.has(key.slice(0, key.indexOf('/')))) {
        this._slots.delete(key);
      }
    }
  }

  /**
   * The slots worth saving: those with an earlier outcome.  (A slot's latest
   * report is still in the outputs after a reload, so it is seen again.)
   */
  toJSON(): { [key: string]: Slot } {
    const saved: { [key: string]: Slot } = {};
    for (const [key, slot] of this._slots) {
      if (slot.previous !== null) {
        saved[key] = slot;
      }
    }
    return saved;
  }

  private _slots = new Map<string, Slot>();
}

function outcomeOf(report: ReportSummary): Outcome {
  return { figure: headlineFigure(report), tone: statusTone(report.status) };
}

function unreadableRow(cell: CellSnapshot, cellIndex: number, slot: number, reason: string): CheckRow {
  return {
    key: `${cell.id}/unreadable/${slot}`,
    cellId: cell.id,
    cellIndex,
    executionCount: cell.executionCount,
    kind: null,
    label: 'unreadable nbgrad report',
    status: 'error',
    headline: `This output cannot be shown: ${reason}.`,
    current: { figure: reason, tone: 'error' },
    previous: null,
    location: null,
    failingIndices: null
  };
}

function rowsOfCell(cell: CellSnapshot, cellIndex: number, history: CheckHistory): CheckRow[] {
  const seenPerKind = new Map<string, number>();
  return cell.reports.map((value, slot) => {
    const parsed = parseReport(value);
    if (!parsed.ok) {
      return unreadableRow(cell, cellIndex, slot, parsed.reason);
    }
    const report = parsed.report;
    const nth = seenPerKind.get(report.kind) ?? 0;
    seenPerKind.set(report.kind, nth + 1);
    const key = `${cell.id}/${report.kind}/${nth}`;
    return {
      key,
      cellId: cell.id,
      cellIndex,
      executionCount: cell.executionCount,
      kind: report.kind,
      label: report.label,
      status: report.status,
      headline: report.headline,
      current: outcomeOf(report),
      previous: history.observe(key, report),
      location: report.firstDivergence?.location ?? null,
      failingIndices: report.failingIndices
    };
  });
}

/** Every check of the notebook, in cell order then output order. */
export function buildRows(cells: readonly CellSnapshot[], history: CheckHistory): CheckRow[] {
  return cells.flatMap((cell, index) => rowsOfCell(cell, index, history));
}

/** The rows the panel shows under the "failing only" filter. */
export function filterRows(rows: readonly CheckRow[], failingOnly: boolean): CheckRow[] {
  return failingOnly ? rows.filter(row => isFailing(row.status)) : [...rows];
}

/** Counts for the panel's header line. */
export function summarize(rows: readonly CheckRow[]): { total: number; failing: number } {
  return { total: rows.length, failing: rows.filter(row => isFailing(row.status)).length };
}
