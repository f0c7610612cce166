import { CodeCell, findDefinition } from '../source';

const cells: CodeCell[] = [
  { id: 'setup', source: 'import numpy as np\nW = np.zeros(3)', executionCount: 1 },
  {
    id: 'model',
    source: 'class RNN:\n    def __init__(self):\n        pass\n\n    def bptt(self, x):\n        return x',
    executionCount: 2
  },
  { id: 'loss-v1', source: 'def rnn_loss_grads(x):\n    return x', executionCount: 3 },
  { id: 'loss-v2', source: '# fixed\nasync def rnn_loss_grads(x):\n    h = x\n    return h', executionCount: 5 },
  { id: 'other', source: 'def bptt(y):\n    return y', executionCount: 4 },
  { id: 'check', source: '%%determinism\nfor t in range(3):\n    step()', executionCount: 6 }
];

describe('findDefinition', () => {
  it('finds the cell that defines the function, run last when defined twice', () => {
    expect(findDefinition(cells, { name: 'rnn_loss_grads', line: 3, file: null }, 'check')).toEqual({
      cellId: 'loss-v2',
      line: 3
    });
  });

  it('prefers the cell that also defines the class of a method', () => {
    expect(findDefinition(cells, { name: 'RNN.bptt', line: 5, file: null }, 'check')).toEqual({
      cellId: 'model',
      line: 5
    });
    // A plain name takes the definition run last.
    expect(findDefinition(cells, { name: 'bptt', line: 1, file: null }, 'check')?.cellId).toBe('other');
  });

  it('points a line without a function into the checked cell', () => {
    expect(findDefinition(cells, { name: null, line: 3, file: null }, 'check')).toEqual({ cellId: 'check', line: 3 });
  });

  it('finds nothing for imported functions, name prefixes or lines past the cell', () => {
    const inModule = { name: 'rnn_loss_grads', line: 1, file: '/home/ada/rnn.py' };
    expect(findDefinition(cells, inModule, 'check')).toBeNull();
    expect(findDefinition(cells, { name: 'np.dot', line: 1, file: null }, 'check')).toBeNull();
    expect(findDefinition(cells, { name: 'rnn_loss', line: 1, file: null }, 'check')).toBeNull();
    expect(findDefinition(cells, { name: 'rnn_loss_grads', line: 40, file: null }, 'check')).toBeNull();
    expect(findDefinition(cells, { name: null, line: 1, file: null }, null)).toBeNull();
  });
});
