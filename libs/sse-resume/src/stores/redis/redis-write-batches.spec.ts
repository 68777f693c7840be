import { MAX_BATCH_CHARS, MAX_BATCH_EVENTS, nextBatchSize } from './redis-write-batches';

const append = (data = 'x') => ({ kind: 'append', data });

describe('nextBatchSize', () => {
  it('takes the appends at the head, up to the first other write', () => {
    expect(nextBatchSize([append(), append(), { kind: 'finish' }, append()])).toBe(2);
    expect(nextBatchSize([{ kind: 'finish' }, append()])).toBe(0);
    expect(nextBatchSize([])).toBe(0);
  });

  it('takes at most MAX_BATCH_EVENTS', () => {
    expect(nextBatchSize(Array.from({ length: MAX_BATCH_EVENTS + 5 }, () => append()))).toBe(
      MAX_BATCH_EVENTS,
    );
  });

  it('stops once the data taken reached MAX_BATCH_CHARS (the append that passes it is the last)', () => {
    const big = 'y'.repeat(MAX_BATCH_CHARS / 2 + 1);
    expect(nextBatchSize([append(big), append(big), append()])).toBe(2);
  });
});
