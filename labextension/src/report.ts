/**
 * Reading nbgrad reports (docs/report-schema.md) out of untrusted notebook JSON.
 *
 * Notebook outputs come from files anyone may have edited, from other nbgrad
 * versions, or from bugs; the panel and the renderer must never throw on them.
 * `parseReport` therefore turns any value into either a typed summary or a
 * reason it cannot be read, and everything the UI shows about a report is
 * formatted here once so the panel and the MIME renderer say the same thing.
 * No DOM and no JupyterLab imports: this module is unit-tested under Node.
 */

import { KINDS, ReportKind, ReportStatus, STATUSES } from './schema';

/** MIME type under which a report travels in notebook outputs. */
export const REPORT_MIME_TYPE = 'application/vnd.nbgrad.report+json';

/** The report layout this extension understands (`version` field). */
export const SCHEMA_VERSION = 1;

export type { ReportKind, ReportStatus };

/** Colour family of a status badge: green, red, or "the check itself broke". */
export type Tone = 'ok' | 'bad' | 'error';

/** A line a report points at: `line` of the function `name`, or of the checked cell. */
export interface SourceLocation {
  /** The function's (qualified) name; `null` for the cell the check ran. */
  name: string | null;
  line: number;
  /** The file the line is in when it is a module's, not a notebook cell's. */
  file: string | null;
}

/**
 * Whether `file` (a report's `file` field) is a notebook cell: ipykernel
 * compiles each cell as `…/ipykernel_<pid>/<hash>.py`, IPython as `<ipython-input-…>`.
 */
export function isCellFile(file: string | null): boolean {
  return file === null || file.startsWith('<') || /(^|[\\/])ipykernel_\d+[\\/]\d+\.py$/.test(file);
}

/** The first point where two runs of a determinism check disagree. */
export interface Divergence {
  step: number | null;
  variable: string | null;
  cause: string | null;
  location: SourceLocation | null;
}

/** The fields of a report that the panel needs, validated. */
export interface ReportSummary {
  kind: ReportKind;
  id: string;
  label: string;
  status: ReportStatus;
  headline: string;
  maxRelError: number | null;
  /** Every failing block is `flat`: the cost cannot train, whatever the gradient. */
  flat: boolean;
  firstDivergence: Divergence | null;
  /** The failing elements as a Python dict literal, `null` when none is flagged. */
  failingIndices: string | null;
}

/** Outcome of reading one output: a summary, or why there is none. */
export type ParseResult =
  | { ok: true; report: ReportSummary }
  | { ok: false; reason: string };

export type JSONObject = { [key: string]: unknown };

export function isObject(value: unknown): value is JSONObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function finiteOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

export function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

/** Where `line` (of `function`, or of the checked cell) points, if it is a line number. */
export function sourceLocation(value: JSONObject): SourceLocation | null {
  const line = finiteOrNull(value.line);
  if (line === null || !Number.isInteger(line) || line < 1) {
    return null;
  }
  const file = stringOrNull(value.file);
  return { name: stringOrNull(value.function), line, file: isCellFile(file) ? null : file };
}

/** `line 27 of rnn_loss_grads`, `line 3 of the checked cell`, `line 8 of step in model.py`. */
export function formatLocation(location: SourceLocation): string {
  const where = `line ${location.line} of ${location.name ?? 'the checked cell'}`;
  return location.file === null ? where : `${where} in ${location.file.split(/[\\/]/).pop()}`;
}

function parseDivergence(value: unknown): Divergence | null {
  if (!isObject(value)) {
    return null;
  }
  return {
    step: finiteOrNull(value.step),
    variable: stringOrNull(value.variable),
    cause: stringOrNull(value.cause),
    location: sourceLocation(value)
  };
}

function counts(value: unknown): number[] | null {
  if (!Array.isArray(value) || !value.every(n => Number.isInteger(n) && n >= 0)) {
    return null;
  }
  return value as number[];
}

/** The C-order multi-index of flat index `flat` in an array of `shape`. */
export function unravelIndex(flat: number, shape: readonly number[]): number[] {
  const index = new Array<number>(shape.length);
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    index[axis] = flat % shape[axis];
    flat = Math.floor(flat / shape[axis]);
  }
  return index;
}

function pythonIndex(index: readonly number[]): string {
  return index.length === 1 ? String(index[0]) : `(${index.join(', ')})`;
}

/**
 * Every block's flagged elements as a Python dict literal, ready to paste:
 * `{"W1": [(2, 5), (3, 1)], "b": [4]}` (1-D blocks by plain integers).  When
 * the report kept only the first of many flagged indices a trailing comment
 * says so.  `null` when no element is flagged.
 */
export function failingIndices(blocks: unknown): string | null {
  const entries: string[] = [];
  const truncated: string[] = [];
  for (const block of Array.isArray(blocks) ? blocks.filter(isObject) : []) {
    const flagged = counts(block.flagged);
    const shape = counts(block.shape);
    const name = stringOrNull(block.name);
    if (flagged === null || flagged.length === 0 || shape === null || name === null) {
      continue;
    }
    const indices = flagged.map(flat => pythonIndex(unravelIndex(flat, shape)));
    entries.push(`${JSON.stringify(name)}: [${indices.join(', ')}]`);
    const total = finiteOrNull(block.n_flagged);
    if (total !== null && total > flagged.length) {
      truncated.push(`${name}: the first ${flagged.length} of ${total}`);
    }
  }
  if (entries.length === 0) {
    return null;
  }
  const note = truncated.length === 0 ? '' : `  # ${truncated.join('; ')}`;
  return `{${entries.join(', ')}}${note}`;
}

/**
 * Validate the fields the panel relies on; unknown fields are ignored, as the
 * schema asks of consumers.  A report written by a newer layout version is
 * refused rather than guessed at, because fields may have changed meaning.
 */
export function parseReport(value: unknown): ParseResult {
  if (!isObject(value)) {
    return { ok: false, reason: 'not a JSON object' };
  }
  if (value.version !== SCHEMA_VERSION) {
    return {
      ok: false,
      reason: `report version ${JSON.stringify(value.version ?? null)}, expected ${SCHEMA_VERSION}`
    };
  }
  if (typeof value.kind !== 'string' || !(KINDS as readonly string[]).includes(value.kind)) {
    return { ok: false, reason: `unknown kind ${JSON.stringify(value.kind ?? null)}` };
  }
  if (typeof value.status !== 'string' || !(STATUSES as readonly string[]).includes(value.status)) {
    return { ok: false, reason: `unknown status ${JSON.stringify(value.status ?? null)}` };
  }
  if (typeof value.id !== 'string' || value.id === '') {
    return { ok: false, reason: 'missing id' };
  }
  return {
    ok: true,
    report: {
      kind: value.kind as ReportKind,
      id: value.id,
      label: stringOrNull(value.label) ?? '',
      status: value.status as ReportStatus,
      headline: stringOrNull(value.headline) ?? '',
      maxRelError: finiteOrNull(value.max_rel_error),
      flat: isOnlyFlat(value.diagnoses),
      firstDivergence: parseDivergence(value.first_divergence),
      failingIndices: value.kind === 'gradcheck' ? failingIndices(value.blocks) : null
    }
  };
}

function isOnlyFlat(diagnoses: unknown): boolean {
  return Array.isArray(diagnoses) && diagnoses.length === 1 && diagnoses[0] === 'flat';
}

/**
 * A label cut where a long expression may wrap: after `_ ( , . =` and before
 * `[`, so `two_layer_network_cost_and_gradient(W, reg=0.0)` breaks at its
 * joints rather than mid-word.  The pieces join back to `text`.
 */
export function joints(text: string): string[] {
  return text.split(/(?<=[_(,.=])|(?=\[)/);
}

/** Badge colour of a status. */
export function statusTone(status: ReportStatus): Tone {
  if (status === 'pass' || status === 'deterministic') {
    return 'ok';
  }
  return status === 'error' ? 'error' : 'bad';
}

/** Whether the "failing only" filter keeps this status. */
export function isFailing(status: ReportStatus): boolean {
  return statusTone(status) !== 'ok';
}

/** A relative error the way people quote it: `4.1e-11`, `1.3e-2`, `0`. */
export function formatRelError(value: number | null): string {
  if (value === null) {
    return '—';
  }
  return value === 0 ? '0' : value.toExponential(1);
}

/**
 * The one figure that sums a check up: the worst relative error of a gradient
 * check, or where and why a determinism check diverged.
 */
export function headlineFigure(report: ReportSummary): string {
  if (report.kind === 'gradcheck') {
    // A flat cost's relative error is tiny (both gradients are ~0): quoting it
    // beside a "fail" badge would read like a pass.
    return report.flat ? 'flat cost' : formatRelError(report.maxRelError);
  }
  const divergence = report.firstDivergence;
  if (divergence === null) {
    return report.status === 'error' ? 'raised' : 'identical';
  }
  const step = divergence.step === null ? 'step ?' : `step ${divergence.step}`;
  return divergence.cause === null ? step : `${step} · ${divergence.cause}`;
}

/** MIME type of an ipywidgets view (`{"model_id": …}`), which `%gradcheck --widget` adds. */
export const WIDGET_VIEW_MIME_TYPE = 'application/vnd.jupyter.widget-view+json';

/**
 * The widget model a bundle's live view shows, when the bundle also carries
 * nbgrad's report to fall back on; `null` for any other bundle (another
 * library's widget, a plain report) or a view with no model (closed: `""`).
 */
export function fallbackWidgetModel(data: Readonly<Record<string, unknown>>): string | null {
  const view = data[WIDGET_VIEW_MIME_TYPE];
  if (!(REPORT_MIME_TYPE in data) || !isObject(view)) {
    return null;
  }
  return typeof view.model_id === 'string' && view.model_id !== '' ? view.model_id : null;
}
