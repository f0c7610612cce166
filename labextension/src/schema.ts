/**
 * The report contract (nbgrad/report/schema.json, docs/report-schema.md) as
 * TypeScript types.
 *
 * Hand-written from the schema and kept honest by `__tests__/contract.test.ts`:
 * every fixture in tests/fixtures/reports/ — the ones pytest validates — must
 * pass the schema under ajv *and* type-check as a `Report` (object literals get
 * excess-property checks, so a field the schema gained but this file lacks
 * fails too), and the enums below must equal the schema's.  Fields the schema
 * doc lists as later additions are optional here, as they are in old reports.
 * No DOM and no JupyterLab imports.
 */

/** `kind` values, in the schema's order. */
export const KINDS = ['gradcheck', 'determinism'] as const;
export type ReportKind = (typeof KINDS)[number];

/** `status` values, in the schema's order. */
export const STATUSES = ['pass', 'fail', 'deterministic', 'diverged', 'error'] as const;
export type ReportStatus = (typeof STATUSES)[number];

/** Gradient diagnosis codes (stable). */
export const DIAGNOSES = [
  'ok',
  'mismatch',
  'sign_flip',
  'scale',
  'transpose',
  'zero_analytic',
  'flat',
  'nondifferentiable',
  'noisy',
  'drift',
  'nonfinite_analytic',
  'conjugate',
  'clipped',
  'one_per_row',
  'regulariser',
  'column_scale',
  'row_scale'
] as const;
export type Diagnosis = (typeof DIAGNOSES)[number];

/** Determinism cause codes (stable). */
export const CAUSES = [
  'uninitialized_memory',
  'unseeded_rng',
  'nondeterministic_op',
  'external',
  'unknown',
  'inconclusive'
] as const;
export type Cause = (typeof CAUSES)[number];

/** Non-finite floats travel as `null`. */
export type RealOrNull = number | null;

/** Something the checked code did outside the namespace while nbgrad reran it. */
export interface SideEffect {
  kind: 'write' | 'chdir';
  path: string;
  count: number;
  message: string;
}

/** Fields every report has. */
export interface CommonFields {
  version: 1;
  nbgrad_version: string;
  id: string;
  label: string;
  headline: string;
  created: string;
  elapsed_s: number;
  side_effects?: SideEffect[];
}

export interface Element {
  index: number;
  multi_index: number[];
  analytic: RealOrNull;
  numeric: RealOrNull;
  rel_error: RealOrNull;
  step: RealOrNull;
  analytic_imag?: RealOrNull;
  numeric_imag?: RealOrNull;
  /** How many standard errors of the numeric derivative |analytic − numeric| is. */
  standard_errors?: RealOrNull;
}

export interface Heatmap {
  rows: number;
  cols: number;
  pooled: boolean;
  values: RealOrNull[][];
}

/** Fast mode's per-block bookkeeping (a later addition). */
export interface BlockFast {
  directions: number;
  failed_directions: number;
  tests: number;
  unlocalised: [number, number][];
  stopped: boolean;
  sampled: number;
  rounding_limited?: [number, number][];
  /** Failing directions put down to a kink along them (not failures). */
  kinks?: number;
  /** A final fresh direction still failed after the errors found: they cancelled. */
  cancelled?: boolean;
}

/** The Taylor test of one block along one random direction (full mode). */
export interface Taylor {
  steps: number[];
  remainders: RealOrNull[];
  linear: RealOrNull[];
  orders: RealOrNull[];
  floor: RealOrNull;
  verdict: 'second_order' | 'first_order' | 'rounding_limited' | 'inconclusive';
  message: string;
}

export interface Block {
  name: string;
  shape: number[];
  dtype: string;
  device: string;
  size: number;
  passed: boolean;
  max_rel_error: RealOrNull;
  tolerance: number;
  diagnoses: Diagnosis[];
  scale: RealOrNull;
  /** Flat C-order indices of failing elements, ascending; at most 1000. */
  flagged: number[];
  /** Failing elements in all (`flagged` may be truncated). */
  n_flagged: number;
  checked: number;
  worst: Element[];
  heatmap: Heatmap | null;
  fast?: BlockFast;
  taylor?: Taylor | null;
  /** Flat indices (at most 1000) whose analytic value is NaN or ±inf. */
  nonfinite?: number[];
}

export interface Finding {
  block: string | null;
  code: string;
  confidence: number;
  message: string;
  details: { [key: string]: unknown };
}

export interface StepCurve {
  block: string;
  index: number;
  analytic: RealOrNull;
  steps: number[];
  numeric: RealOrNull[];
  rel_errors: RealOrNull[];
  chosen_step: number;
  component?: 'real' | 'imag' | null;
}

export interface Noise {
  floor: RealOrNull;
  noisy: boolean;
  repeats: number;
  relative?: RealOrNull;
  too_noisy?: boolean;
  /** The cost changed at a fixed point: on the first call only, or as a trend. */
  drift?: 'first_call' | 'trend' | null;
}

export interface GradcheckReport extends CommonFields {
  kind: 'gradcheck';
  status: 'pass' | 'fail' | 'error';
  passed: boolean;
  max_rel_error: RealOrNull;
  evaluations: number;
  mode: 'full' | 'fast';
  tolerance: number;
  diagnoses: Diagnosis[];
  noise: Noise;
  findings: Finding[];
  blocks: Block[];
  step_curve: StepCurve | null;
  fast?: { verdict_evaluations: number };
}

export interface SourceLine {
  line: number;
  text: string;
}

export interface Allocation {
  function: string | null;
  line: number | null;
  source: string | null;
  call: string;
}

/** The edit that removes a cause, when there is one. */
export interface Fix {
  kind:
    | 'zeros'
    | 'seed'
    | 'clock'
    | 'cub'
    | 'float_atomics'
    | 'thread_pool'
    | 'cublas_cudnn'
    | 'operation'
    | 'none';
  summary: string;
  line: number | null;
  before: string | null;
  after: string | null;
}

/** One replicated experiment behind a cause: how many of `of` runs differed. */
export interface Evidence {
  condition: 'identical settings' | 'other poison' | 'other RNG start' | 'frozen clock and entropy';
  differed: number;
  of: number;
  first_steps: number[];
}

/** The 1-ULP chaos probe: how far a nudge spreads per step. */
export interface Chaos {
  nudged: string;
  spread_per_step: RealOrNull[];
  spread_at_step: RealOrNull;
  observed: RealOrNull;
  ratio: RealOrNull;
  words: string;
}

export interface ClockCall {
  call: string;
  line: number | null;
  function: string | null;
}

export interface Divergence {
  step: number;
  variable: string;
  /** The function whose line `line` is, `null` for the checked cell itself. */
  function: string | null;
  line: number | null;
  source: string | null;
  context: SourceLine[];
  cause: Cause;
  cause_confidence: number;
  explanation: string;
  max_abs_diff: RealOrNull;
  max_rel_diff: RealOrNull;
  max_ulps: number | null;
  allocation: Allocation | null;
  fix: Fix;
  evidence: Evidence[];
  replicas: number;
  counts: string;
  file?: string | null;
  fraction_differing?: number | null;
  clock_calls?: ClockCall[];
  chaos?: Chaos | null;
}

/** Fraction of each variable's elements that differ, `null` where it cannot be told. */
export type Fractions = { [name: string]: number | null };

/** Per variable: where it first diverged and how much of it differed, step by step. */
export interface VariableSummary {
  name: string;
  first_step: number | null;
  steps_diverged: number;
  fraction_per_step: (number | null)[];
}

export type ByVariable = { [name: string]: RealOrNull };

export interface Step {
  step: number;
  diverged: string[];
  max_abs_diff: RealOrNull;
  by_variable: ByVariable;
  fraction?: Fractions;
}

/** A run of steps that read the same, collapsed into one row. */
export interface StepRange {
  first: number;
  last: number;
  diverged: string[];
  max_abs_diff: RealOrNull;
  by_variable: ByVariable;
  fraction: Fractions;
}

export interface Experiment {
  name: string;
  poison: string;
  rng: string;
  outcome: 'identical' | 'differ' | 'raised';
  first_step: number | null;
  detail: string;
  differed?: number;
  replicas?: number;
}

export interface RunError {
  run: number;
  type: string;
  message: string;
  traceback: string;
  under_poison: boolean;
}

export interface Comparison {
  reference: 'numpy';
  per_step: { step: number; max_abs_diff: RealOrNull; by_variable: ByVariable }[];
  error?: string;
  note?: string;
}

/** Threads or child processes the plain run left running (never waited for). */
export interface Concurrency {
  threads: string[];
  processes: number;
  message: string;
}

export interface DeterminismReport extends CommonFields {
  kind: 'determinism';
  status: 'deterministic' | 'diverged' | 'error';
  deterministic: boolean;
  runs: number;
  steps: number;
  backend: 'numpy' | 'cupy';
  tracked: string[];
  first_divergence: Divergence | null;
  per_step: Step[];
  variables: VariableSummary[];
  per_step_collapsed: StepRange[];
  experiments: Experiment[];
  error: RunError | null;
  comparison: Comparison | null;
  restored: 'run0' | 'snapshot';
  concurrency?: Concurrency;
}

/** One nbgrad report, as `report.to_dict()` writes it. */
export type Report = GradcheckReport | DeterminismReport;
