import { describe, expect, it } from '@jest/globals';
import { matchBatches, parseLastApplied, placeWrites } from './redis-append-recovery';

describe('parseLastApplied', () => {
  it('reads `<write>:<first id>` and nothing else', () => {
    expect(parseLastApplied('12:340')).toEqual({ write: 12, first: 340 });
    expect(parseLastApplied(null)).toBeUndefined();
    expect(parseLastApplied('x:1')).toBeUndefined();
  });
});

describe('placeWrites', () => {
  it('sends again every write after the last applied one, and nothing before it', () => {
    const writes = [
      { write: 5, count: 10 },
      { write: 6, count: 10 },
      { write: 7, count: 10 },
    ];
    expect(placeWrites(writes, 100, { write: 4, first: 91 })).toEqual(['resend', 'resend', 'resend']);
    expect(placeWrites(writes, 100, undefined)).toEqual(['resend', 'resend', 'resend']);
    expect(placeWrites(writes, 100, { write: 5, first: 101 })).toEqual([{ first: 101 }, 'resend', 'resend']);
  });

  it('places writes applied before the last one by counting, when their ids hold only their events', () => {
    const writes = [
      { write: 5, count: 10 },
      { write: 6, count: 3 },
      { write: 7, count: 10 },
      { write: 8, count: 1 },
    ];
    expect(placeWrites(writes, 100, { write: 7, first: 114 })).toEqual([
      { first: 101 },
      { first: 111 },
      { first: 114 },
      'resend',
    ]);
    // Another instance's 2 events came between: the counts do not tell where.
    expect(placeWrites(writes, 100, { write: 7, first: 116 })).toEqual([
      'unplaced',
      'unplaced',
      { first: 116 },
      'resend',
    ]);
    // Nothing acknowledged before them is known: neither.
    expect(placeWrites(writes, undefined, { write: 6, first: 111 })).toEqual([
      'unplaced',
      { first: 111 },
      'resend',
      'resend',
    ]);
  });

  it('uses the writes whose replies did arrive as anchors', () => {
    const writes = [
      { write: 5, count: 10, first: 101 },
      { write: 6, count: 10 },
      { write: 7, count: 10, first: 121 },
      { write: 8, count: 10 },
      { write: 9, count: 10 },
    ];
    expect(placeWrites(writes, 100, { write: 9, first: 141 })).toEqual([
      { first: 101 },
      { first: 111 },
      { first: 121 },
      { first: 131 },
      { first: 141 },
    ]);
  });
});

describe('matchBatches', () => {
  const entry = (seq: number, data: string) => ({ seq, type: 'progress', data });
  const events = (...data: string[]) => data.map((d) => ({ type: 'progress', data: d }));

  it("finds each batch in order, past other instances' events between them", () => {
    const entries = [
      entry(11, 'a'),
      entry(12, 'b'),
      entry(13, 'x'),
      entry(14, 'c'),
      entry(15, 'y'),
      entry(16, 'd'),
    ];
    expect(matchBatches(entries, [events('a', 'b'), events('c'), events('d')])).toEqual([11, 14, 16]);
  });

  it('never splits a batch, and answers undefined when one is missing (trimmed)', () => {
    const entries = [entry(11, 'a'), entry(12, 'x'), entry(13, 'b'), entry(14, 'a'), entry(15, 'b')];
    expect(matchBatches(entries, [events('a', 'b')])).toEqual([14]);
    expect(matchBatches(entries, [events('a', 'b'), events('c')])).toBeUndefined();
  });
});
