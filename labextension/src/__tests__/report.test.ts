import * as fs from 'fs';
import * as path from 'path';

import {
  fallbackWidgetModel,
  failingIndices,
  formatLocation,
  formatRelError,
  headlineFigure,
  isCellFile,
  joints,
  isFailing,
  parseReport,
  REPORT_MIME_TYPE,
  ReportSummary,
  statusTone,
  unravelIndex,
  WIDGET_VIEW_MIME_TYPE
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
      firstDivergence: null,
      failingIndices: null
    });
  });

  it('reads the first divergence of a determinism report', () => {
    const report = parsed(determinism());
    expect(report.kind).toBe('determinism');
    expect(report.firstDivergence).toEqual({
      step: 3,
      variable: 'dLdb_c',
      cause: 'uninitialized_memory',
      location: null
    });
  });

  it('reads the line a divergence points at, of a function or of the checked cell', () => {
    const at = (fields: Record<string, unknown>) =>
      parsed(determinism({ first_divergence: { step: 1, ...fields } })).firstDivergence!.location;
    expect(at({ function: 'rnn_loss_grads', line: 27 })).toEqual({
      name: 'rnn_loss_grads',
      line: 27,
      file: null
    });
    expect(at({ function: null, line: 3 })).toEqual({ name: null, line: 3, file: null });
    expect(at({ function: 'f', line: null })).toBeNull();
    expect(at({ function: 'f', line: 0 })).toBeNull();
    const cell = { name: 'rnn_loss_grads', line: 27, file: null };
    expect(formatLocation(cell)).toBe('line 27 of rnn_loss_grads');
    expect(formatLocation({ name: null, line: 3, file: null })).toBe('line 3 of the checked cell');
  });

  it('tells a line of a notebook cell from a line of a module file', () => {
    const at = (file: unknown) =>
      parsed(determinism({ first_divergence: { step: 1, function: 'step', line: 8, file } }))
        .firstDivergence!.location!.file;
    // ipykernel compiles cells as /tmp/ipykernel_<pid>/<hash>.py; IPython as <ipython-input-…>.
    expect(at('/tmp/ipykernel_4242/3474135721.py')).toBeNull();
    expect(at('<ipython-input-3-5f2c>')).toBeNull();
    expect(at(null)).toBeNull();
    expect(at('/home/ada/project/model.py')).toBe('/home/ada/project/model.py');
    expect(isCellFile('C:\\Temp\\ipykernel_7\\12.py')).toBe(true);
    const module = { name: 'step', line: 8, file: '/home/ada/project/model.py' };
    expect(formatLocation(module)).toBe('line 8 of step in model.py');
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

describe('failingIndices', () => {
  const block = (name: string, shape: number[], flagged: number[], extra = {}) => ({
    name,
    shape,
    flagged,
    n_flagged: flagged.length,
    ...extra
  });

  it('writes flagged elements as a Python dict of index tuples, 1-D blocks as integers', () => {
    const blocks = [block('W1', [4, 6], [17, 19]), block('b', [5], [0, 4]), block('ok', [3], [])];
    expect(failingIndices(blocks)).toBe('{"W1": [(2, 5), (3, 1)], "b": [0, 4]}');
  });

  it('unravels in C order, like numpy.unravel_index', () => {
    expect(unravelIndex(23, [2, 3, 4])).toEqual([1, 2, 3]);
    expect(unravelIndex(5, [2, 3, 4])).toEqual([0, 1, 1]);
    expect(unravelIndex(0, [])).toEqual([]);
  });

  it('says when the report kept only the first of many flagged indices', () => {
    const many = block('emb', [10, 10], [1, 2], { n_flagged: 1500 });
    expect(failingIndices([many])).toBe('{"emb": [(0, 1), (0, 2)]}  # emb: the first 2 of 1500');
  });

  it('is null without flagged elements, and skips malformed blocks', () => {
    expect(failingIndices([block('W', [2, 2], [])])).toBeNull();
    expect(failingIndices(undefined)).toBeNull();
    expect(failingIndices([{ name: 'W', shape: 'x', flagged: [1] }, block('b', [3], [2])])).toBe(
      '{"b": [2]}'
    );
  });

  it('matches the worst elements of every failing fixture report', () => {
    const dir = path.resolve(__dirname, '../../../tests/fixtures/reports');
    for (const name of fs.readdirSync(dir).filter(n => n.startsWith('gradcheck'))) {
      const report = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8'));
      for (const b of report.blocks) {
        // Every flagged worst element's multi_index is what the literal lists for it.
        for (const element of b.worst.filter((e: { index: number }) => b.flagged.includes(e.index))) {
          expect(unravelIndex(element.index, b.shape)).toEqual(element.multi_index);
        }
      }
      const literal = parsed(report).failingIndices;
      const anyFlagged = report.blocks.some((b: { flagged: number[] }) => b.flagged.length > 0);
      expect({ name, listed: literal !== null }).toEqual({ name, listed: anyFlagged });
    }
  });
});

describe('joints', () => {
  it('cuts a label after _ ( , . = and before [, losing nothing', () => {
    const label = 'two_layer.cost(W[0], reg=0.0)';
    expect(joints(label)).toEqual(['two_', 'layer.', 'cost(', 'W', '[0],', ' reg=', '0.', '0)']);
    expect(joints(label).join('')).toBe(label);
    expect(joints('cubic')).toEqual(['cubic']);
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

describe('fallbackWidgetModel', () => {
  const view = { version_major: 2, version_minor: 0, model_id: 'c0ffee' };

  test('names the model of a view that travels with an nbgrad report', () => {
    const data = { [WIDGET_VIEW_MIME_TYPE]: view, [REPORT_MIME_TYPE]: gradcheck(), 'text/plain': '' };
    expect(fallbackWidgetModel(data)).toBe('c0ffee');
  });

  test("leaves other libraries' widgets, plain reports and closed views alone", () => {
    expect(fallbackWidgetModel({ [WIDGET_VIEW_MIME_TYPE]: view, 'text/plain': 'IntSlider()' })).toBeNull();
    expect(fallbackWidgetModel({ [REPORT_MIME_TYPE]: gradcheck() })).toBeNull();
    const closed = { ...view, model_id: '' };
    expect(fallbackWidgetModel({ [WIDGET_VIEW_MIME_TYPE]: closed, [REPORT_MIME_TYPE]: gradcheck() })).toBeNull();
    expect(fallbackWidgetModel({ [WIDGET_VIEW_MIME_TYPE]: 'c0ffee', [REPORT_MIME_TYPE]: {} })).toBeNull();
  });
});
