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

/** The first point where two runs of a determinism check disagree. */
export interface Divergence {
  step: number | null;
  variable: string | null;
  cause: string | null;
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

function parseDivergence(value: unknown): Divergence | null {
  if (!isObject(value)) {
    return null;
  }
  return {
    step: finiteOrNull(value.step),
    variable: stringOrNull(value.variable),
    cause: stringOrNull(value.cause)
  };
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
      firstDivergence: parseDivergence(value.first_divergence)
    }
  };
}

function isOnlyFlat(diagnoses: unknown): boolean {
  return Array.isArray(diagnoses) && diagnoses.length === 1 && diagnoses[0] === 'flat';
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
