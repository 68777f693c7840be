import { MAX_BATCH_CHARS, MAX_BATCH_EVENTS, nextBatchSize, onceBatch } from './redis-write-batches';
import type { TaskEvent } from '../../task-event';

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

  it("ends a batch with a checkpoint's event (its state is stored with the call's last id)", () => {
    const checkpoint = { kind: 'append', data: 'c', checkpoint: '{}' };
    expect(nextBatchSize([append(), checkpoint, append()])).toBe(2);
    expect(nextBatchSize([checkpoint, checkpoint])).toBe(1);
    expect(nextBatchSize([append(), { kind: 'once' }, append()])).toBe(1);
  });
});

describe('onceBatch', () => {
  it("makes an appendOnce's events appends of one call, sized like append's, telling each stored event", () => {
    const stored: TaskEvent[] = [];
    const batch = onceBatch(
      [
        { type: 'progress', data: '"é"' },
        { type: 'log', data: '{}' },
      ],
      (event) => stored.push(event),
    );
    expect(batch.map(({ kind, type, data, size }) => ({ kind, type, data, size }))).toEqual([
      { kind: 'append', type: 'progress', data: '"é"', size: 12 },
      { kind: 'append', type: 'log', data: '{}', size: 5 },
    ]);
    expect(nextBatchSize(batch)).toBe(2);
    const event = { seq: 1 } as TaskEvent;
    batch[0]!.resolve(event);
    expect(stored).toEqual([event]);
  });
});
