import { isTerminalStatus, TERMINAL_STATUSES } from './task-status.interface';

describe('task statuses', () => {
  it('has three terminal statuses', () => {
    expect(TERMINAL_STATUSES).toEqual(['completed', 'failed', 'cancelled']);
  });

  it.each([
    ['completed', true],
    ['failed', true],
    ['cancelled', true],
    ['running', false],
    ['Completed', false],
    ['', false],
    [undefined, false],
    [null, false],
    [1, false],
  ])('isTerminalStatus(%p) is %p', (value, expected) => {
    expect(isTerminalStatus(value)).toBe(expected);
  });
});
