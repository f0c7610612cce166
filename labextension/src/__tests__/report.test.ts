import {
  formatRelError,
  headlineFigure,
  isFailing,
  parseReport,
  ReportSummary,
  statusTone
} from '../report';

function gradcheck(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    kind: 'gradcheck',
    version: 1,
    nbgrad_version: '0.1.0',
    id: 'a1b2',
    label: 'cost(Theta1, Theta2)',
    status: 'fail',
    headline: 'Theta2[:, 0] — 3 of 18 elements wrong',
    created: '2026-01-01T00:00:00Z',
    elapsed_s: 0.5,
    passed: false,
    max_rel_error: 0.0131,
    blocks: [],
    ...overrides
  };
}

function determinism(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    kind: 'determinism',
    version: 1,
    id: 'c3d4',
    label: 'for step in range(5):',
    status: 'diverged',
    headline: 'diverges at step 3 in dLdb_c',
    deterministic: false,
    first_divergence: { step: 3, variable: 'dLdb_c', cause: 'uninitialized_memory' },
    ...overrides
  };
}

function parsed(value: unknown): ReportSummary {
  const result = parseReport(value);
  if (!result.ok) {
    throw new Error(`expected a report, got: ${result.reason}`);
  }
  return result.report;
}

function reason(value: unknown): string {
  const result = parseReport(value);
  if (result.ok) {
    throw new Error('expected the value to be refused');
  }
  return result.reason;
}

describe('parseReport', () => {
  it('reads the fields the panel needs from a gradient report', () => {
    expect(parsed(gradcheck())).toEqual({
      kind: 'gradcheck',
      id: 'a1b2',
      label: 'cost(Theta1, Theta2)',
      status: 'fail',
      headline: 'Theta2[:, 0] — 3 of 18 elements wrong',
      maxRelError: 0.0131,
      flat: false,
      firstDivergence: null
    });
  });

  it('reads the first divergence of a determinism report', () => {
    const report = parsed(determinism());
    expect(report.kind).toBe('determinism');
    expect(report.firstDivergence).toEqual({
      step: 3,
      variable: 'dLdb_c',
      cause: 'uninitialized_memory'
    });
  });

  it('fills optional fields that are missing or mistyped with neutral values', () => {
    const report = parsed(gradcheck({ label: undefined, headline: 42, max_rel_error: null }));
    expect(report.label).toBe('');
    expect(report.headline).toBe('');
    expect(report.maxRelError).toBeNull();
  });

  it('ignores fields it does not know', () => {
    expect(parsed(gradcheck({ something_new: { nested: [1, 2] } })).id).toBe('a1b2');
  });

  it('refuses reports of another layout version', () => {
    expect(reason(gradcheck({ version: 2 }))).toBe('report version 2, expected 1');
    expect(reason(gradcheck({ version: undefined }))).toBe('report version null, expected 1');
    expect(reason(gradcheck({ version: '1' }))).toBe('report version "1", expected 1');
  });

  it('refuses reports without id, kind or a known status', () => {
    expect(reason(gradcheck({ id: undefined }))).toBe('missing id');
    expect(reason(gradcheck({ id: '' }))).toBe('missing id');
    expect(reason(gradcheck({ kind: 'lint' }))).toBe('unknown kind "lint"');
    expect(reason(gradcheck({ status: 'maybe' }))).toBe('unknown status "maybe"');
    expect(reason(gradcheck({ status: undefined }))).toBe('unknown status null');
  });

  it.each([null, undefined, 'report', 3, [gradcheck()], true])('refuses junk %p', junk => {
    expect(reason(junk)).toBe('not a JSON object');
  });
});

describe('formatting', () => {
  it('quotes relative errors with two significant digits', () => {
    expect(formatRelError(4.1e-11)).toBe('4.1e-11');
    expect(formatRelError(0.0131)).toBe('1.3e-2');
    expect(formatRelError(2.5)).toBe('2.5e+0');
    expect(formatRelError(0)).toBe('0');
    expect(formatRelError(null)).toBe('—');
  });

  it('sums a gradient check up by its worst relative error', () => {
    expect(headlineFigure(parsed(gradcheck({ max_rel_error: 4.1e-11 })))).toBe('4.1e-11');
    const flat = gradcheck({ status: 'fail', max_rel_error: 4.4e-12, diagnoses: ['flat'] });
    expect(headlineFigure(parsed(flat))).toBe('flat cost');
    const mixed = gradcheck({ status: 'fail', max_rel_error: 0.5, diagnoses: ['flat', 'sign_flip'] });
    expect(headlineFigure(parsed(mixed))).toBe('5.0e-1');
  });

  it('sums a determinism check up by where and why it diverged', () => {
    expect(headlineFigure(parsed(determinism()))).toBe('step 3 · uninitialized_memory');
    const noCause = determinism({ first_divergence: { step: 0, cause: null } });
    expect(headlineFigure(parsed(noCause))).toBe('step 0');
    const clean = determinism({ status: 'deterministic', first_divergence: null });
    expect(headlineFigure(parsed(clean))).toBe('identical');
    const raised = determinism({ status: 'error', first_divergence: null });
    expect(headlineFigure(parsed(raised))).toBe('raised');
  });

  it('colours and filters statuses', () => {
    expect(['pass', 'deterministic'].map(s => statusTone(s as never))).toEqual(['ok', 'ok']);
    expect(['fail', 'diverged'].map(s => statusTone(s as never))).toEqual(['bad', 'bad']);
    expect(statusTone('error')).toBe('error');
    expect(isFailing('pass')).toBe(false);
    expect(isFailing('deterministic')).toBe(false);
    expect(isFailing('fail')).toBe(true);
    expect(isFailing('diverged')).toBe(true);
    expect(isFailing('error')).toBe(true);
  });
});
