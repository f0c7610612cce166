import { buildRows, CellSnapshot, CheckHistory, filterRows, summarize } from '../checklist';

let nextId = 0;

function grad(status: string, maxRelError: number, label = 'cost(W)'): Record<string, unknown> {
  nextId += 1;
  return { kind: 'gradcheck', version: 1, id: `g${nextId}`, label, status, headline: `${status}!`, max_rel_error: maxRelError };
}

function det(status: string, step: number | null): Record<string, unknown> {
  nextId += 1;
  const firstDivergence = step === null ? null : { step, variable: 'h', cause: 'unseeded_rng' };
  return { kind: 'determinism', version: 1, id: `d${nextId}`, label: 'train()', status, headline: '', first_divergence: firstDivergence };
}

function cell(id: string, executionCount: number | null, ...reports: unknown[]): CellSnapshot {
  return { id, executionCount, reports };
}

describe('buildRows', () => {
  it('lists checks in cell order, then output order', () => {
    const rows = buildRows(
      [
        cell('md', null),
        cell('a', 2, grad('pass', 1e-9, 'first'), det('diverged', 3)),
        cell('b', 1, grad('fail', 0.2, 'third'))
      ],
      new CheckHistory()
    );
    expect(rows.map(r => [r.cellId, r.cellIndex, r.kind, r.status, r.executionCount])).toEqual([
      ['a', 1, 'gradcheck', 'pass', 2],
      ['a', 1, 'determinism', 'diverged', 2],
      ['b', 2, 'gradcheck', 'fail', 1]
    ]);
    expect(rows.map(r => r.current)).toEqual([
      { figure: '1.0e-9', tone: 'ok' },
      { figure: 'step 3 · unseeded_rng', tone: 'bad' },
      { figure: '2.0e-1', tone: 'bad' }
    ]);
    expect(new Set(rows.map(r => r.key)).size).toBe(3);
  });

  it('keeps an unreadable output as an error row that says why', () => {
    const [row] = buildRows([cell('a', 1, { version: 7, kind: 'gradcheck' })], new CheckHistory());
    expect(row.kind).toBeNull();
    expect(row.status).toBe('error');
    expect(row.current).toEqual({ figure: 'report version 7, expected 1', tone: 'error' });
  });

  it('shows the previous result of a check re-run in the same cell', () => {
    const history = new CheckHistory();
    const before = grad('fail', 0.013);
    const after = grad('pass', 4.1e-11);
    expect(buildRows([cell('a', 1, before)], history)[0].previous).toBeNull();
    // A refresh that sees the same report changes nothing.
    expect(buildRows([cell('a', 1, before)], history)[0].previous).toBeNull();
    // Re-run: outputs cleared (the list empties), then the new report arrives.
    expect(buildRows([cell('a', null)], history)).toEqual([]);
    const rerun = buildRows([cell('a', 2, after)], history);
    expect(rerun[0].previous).toEqual({ figure: '1.3e-2', tone: 'bad' });
    expect(rerun[0].current).toEqual({ figure: '4.1e-11', tone: 'ok' });
    // Refreshing again keeps the arrow; a third run moves it along.
    expect(buildRows([cell('a', 2, after)], history)[0].previous).toEqual({
      figure: '1.3e-2',
      tone: 'bad'
    });
    const third = buildRows([cell('a', 3, grad('pass', 5e-12))], history);
    expect(third[0].previous).toEqual({ figure: '4.1e-11', tone: 'ok' });
  });

  it('follows a cell that moves and never mixes cells or kinds', () => {
    const history = new CheckHistory();
    buildRows([cell('a', 1, grad('fail', 0.5)), cell('b', 2, det('diverged', 0))], history);
    const rows = buildRows(
      [cell('b', 2, grad('pass', 1e-10)), cell('a', 3, grad('pass', 2e-10))],
      history
    );
    expect(rows[0].cellId).toBe('b');
    expect(rows[0].previous).toBeNull(); // b held a determinism check before, not a gradcheck
    expect(rows[1].cellId).toBe('a');
    expect(rows[1].cellIndex).toBe(1);
    expect(rows[1].previous).toEqual({ figure: '5.0e-1', tone: 'bad' });
  });

  it('gives each notebook its own history', () => {
    buildRows([cell('a', 1, grad('fail', 0.5))], new CheckHistory());
    const elsewhere = buildRows([cell('a', 1, grad('pass', 1e-9))], new CheckHistory());
    expect(elsewhere[0].previous).toBeNull();
  });
});

describe('CheckHistory in the notebook metadata', () => {
  it('saves only slots with an earlier outcome and restores the arrow after a reload', () => {
    const history = new CheckHistory();
    const before = grad('fail', 0.013);
    const after = grad('pass', 4.1e-11);
    const untouched = grad('pass', 1e-9);
    buildRows([cell('a', 1, before), cell('b', 2, untouched)], history);
    expect(history.toJSON()).toEqual({});
    buildRows([cell('a', 2, after), cell('b', 2, untouched)], history);
    const saved = JSON.parse(JSON.stringify(history.toJSON()));
    expect(Object.keys(saved)).toEqual(['a/gradcheck/0']);

    // Reload: a fresh history from the metadata, the same outputs.
    const reloaded = CheckHistory.fromJSON(saved);
    const [row] = buildRows([cell('a', 2, after)], reloaded);
    expect(row.previous).toEqual({ figure: '1.3e-2', tone: 'bad' });
    // Without the metadata the arrow would be gone.
    expect(buildRows([cell('a', 2, after)], new CheckHistory())[0].previous).toBeNull();
    // A run after the reload moves the arrow along.
    const next = buildRows([cell('a', 3, grad('fail', 0.5))], reloaded);
    expect(next[0].previous).toEqual({ figure: '4.1e-11', tone: 'ok' });
  });

  it('drops unreadable entries instead of throwing', () => {
    const history = CheckHistory.fromJSON({
      good: { id: 'x', outcome: { figure: '1', tone: 'ok' }, previous: { figure: '2', tone: 'bad' } },
      badTone: { id: 'y', outcome: { figure: '1', tone: 'pink' }, previous: { figure: '2', tone: 'bad' } },
      noId: { outcome: { figure: '1', tone: 'ok' }, previous: { figure: '2', tone: 'bad' } },
      junk: 3
    });
    expect(Object.keys(history.toJSON())).toEqual(['good']);
    expect(CheckHistory.fromJSON('junk').toJSON()).toEqual({});
    expect(CheckHistory.fromJSON(undefined).toJSON()).toEqual({});
  });

  it('forgets the cells that are gone', () => {
    const history = new CheckHistory();
    buildRows([cell('a', 1, grad('fail', 0.5)), cell('b', 1, grad('fail', 0.5))], history);
    buildRows([cell('a', 2, grad('pass', 1e-9)), cell('b', 2, grad('pass', 1e-9))], history);
    history.retain(new Set(['b']));
    expect(Object.keys(history.toJSON())).toEqual(['b/gradcheck/0']);
  });
});

describe('row details', () => {
  it('carries the divergence line and the failing indices', () => {
    const divergent = { ...det('diverged', 2), first_divergence: { step: 2, function: 'bptt', line: 7 } };
    const wrong = { ...grad('fail', 0.5), blocks: [{ name: 'W', shape: [2, 3], flagged: [0, 5], n_flagged: 2 }] };
    const [d, g] = buildRows([cell('a', 1, divergent, wrong)], new CheckHistory());
    expect(d.location).toEqual({ name: 'bptt', line: 7, file: null });
    expect(d.failingIndices).toBeNull();
    expect(g.location).toBeNull();
    expect(g.failingIndices).toBe('{"W": [(0, 0), (1, 2)]}');
  });
});

describe('filterRows and summarize', () => {
  const rows = buildRows(
    [
      cell('a', 1, grad('pass', 1e-9), grad('fail', 0.1)),
      cell('b', 2, det('deterministic', null), det('diverged', 1), det('error', null)),
      cell('c', 3, 'junk')
    ],
    new CheckHistory()
  );

  it('keeps fail, diverged and error rows under "failing only", in order', () => {
    expect(filterRows(rows, true).map(r => `${r.cellId}:${r.status}`)).toEqual([
      'a:fail',
      'b:diverged',
      'b:error',
      'c:error'
    ]);
  });

  it('keeps every row without the filter', () => {
    expect(filterRows(rows, false)).toEqual(rows);
  });

  it('counts checks and failures', () => {
    expect(summarize(rows)).toEqual({ total: 6, failing: 4 });
    expect(summarize([])).toEqual({ total: 0, failing: 0 });
  });
});
