import { EventRing } from './event-ring';

/** The ring's events as [type, data, size], oldest first, ids from `firstSeq`. */
function contents(ring: EventRing, firstSeq = 1): [number, string, string, number][] {
  return Array.from({ length: ring.length }, (_, i) => {
    const event = ring.eventAt(i, firstSeq + i);
    return [event.seq, event.type, event.data, event.size];
  });
}

describe('EventRing', () => {
  it('keeps events oldest first, with their name, data and size', () => {
    const ring = new EventRing();
    ring.push('progress', '1', 9);
    ring.push('log', '"two"', 8);
    expect(ring.length).toBe(2);
    expect(contents(ring)).toEqual([
      [1, 'progress', '1', 9],
      [2, 'log', '"two"', 8],
    ]);
    expect(ring.sizeAt(1)).toBe(8);
  });

  it('grows past its first slots and keeps the order when the oldest were dropped (wrapped)', () => {
    const ring = new EventRing();
    for (let i = 1; i <= 10; i++) ring.push('p', String(i), i);
    for (let i = 1; i <= 6; i++) expect(ring.dropOldest()).toBe(i);
    for (let i = 11; i <= 40; i++) ring.push('p', String(i), i); // wraps, then grows twice
    expect(ring.length).toBe(34);
    expect(contents(ring, 7).map(([seq, , data, size]) => [seq, Number(data), size])).toEqual(
      Array.from({ length: 34 }, (_, i) => [7 + i, 7 + i, 7 + i]),
    );
  });

  it('reuses the dropped slots: a history at its limit stays in the same slots', () => {
    const ring = new EventRing();
    for (let i = 1; i <= 16; i++) ring.push('p', String(i), 1);
    for (let i = 17; i <= 1_000; i++) {
      ring.dropOldest();
      ring.push('p', String(i), 1);
    }
    expect(ring.length).toBe(16);
    expect(ring.eventAt(0, 985).data).toBe('985');
    expect(ring.eventAt(15, 1_000).data).toBe('1000');
  });

  it('keepNewest keeps only the newest event; clear drops all', () => {
    const ring = new EventRing();
    for (let i = 1; i <= 20; i++) ring.push(i === 20 ? 'end' : 'p', String(i), i);
    ring.keepNewest();
    expect(contents(ring, 20)).toEqual([[20, 'end', '20', 20]]);
    ring.push('p', '21', 1);
    expect(ring.length).toBe(2);
    ring.clear();
    expect(ring.length).toBe(0);
    ring.push('p', 'x', 1);
    expect(contents(ring, 5)).toEqual([[5, 'p', 'x', 1]]);
  });

  it('hands out events that build the same frame as any TaskEvent', () => {
    const ring = new EventRing();
    ring.push('progress', '{"pct":50}', 18);
    expect(ring.eventAt(0, 42).frame).toBe('event: progress\nid: 42\ndata: {"pct":50}\n\n');
  });
});
