import { describe, expect, it } from '@jest/globals';
import { TaskEvent } from '../../task-event';
import { RedisRecentHistory, type RecentHistoryLimits } from './redis-recent-history';

const ROOMY: RecentHistoryLimits = { historyLimit: 1000, historyBytes: 1 << 20, historyBudgetBytes: 1 << 30 };

function batch(from: number, to: number, type = 'progress') {
  const events = Array.from(
    { length: to - from + 1 },
    (_, i) => new TaskEvent(from + i, type, `"${from + i}"`),
  );
  return { events, sizes: events.map((e) => e.size) };
}

function add(history: RedisRecentHistory, taskId: string, from: number, to: number, type?: string): void {
  const { events, sizes } = batch(from, to, type);
  history.add(taskId, events, sizes);
}

const seqs = (events: readonly TaskEvent[]) => events.map((e) => e.seq);
const upTo = (lastEventId: number) => ({ firstEventId: 1, lastEventId });

describe('RedisRecentHistory', () => {
  it('serves what it holds within the bounds Redis gave, and nothing it lacks', () => {
    const history = new RedisRecentHistory(ROOMY);
    expect(history.has('t')).toBe(false);
    add(history, 't', 1, 10);
    expect(history.has('t')).toBe(true);
    const bounds = { firstEventId: 1, lastEventId: 10 };
    expect(seqs(history.slice('t', 0, bounds, 100)!.events)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(seqs(history.slice('t', 4, bounds, 3)!.events)).toEqual([5, 6, 7]);
    // Redis trimmed more than the copy (its global budget): the copy starts where Redis does.
    expect(seqs(history.slice('t', 0, { firstEventId: 8, lastEventId: 10 }, 100)!.events)).toEqual([
      8, 9, 10,
    ]);
    // Redis has acknowledged events the copy has not got yet (their reply is on its way): as
    // frames, served up to the copy's last (the reader reads on); as events, a short slice
    // would read as the end of history, so Redis is read instead.
    expect(seqs(history.slice('t', 8, { firstEventId: 1, lastEventId: 12 }, 100, 1 << 20)!.events)).toEqual([
      9, 10,
    ]);
    expect(history.slice('t', 8, { firstEventId: 1, lastEventId: 12 }, 100)).toBeUndefined();
    expect(seqs(history.slice('t', 8, { firstEventId: 1, lastEventId: 12 }, 2)!.events)).toEqual([9, 10]);
    expect(history.slice('t', 10, { firstEventId: 1, lastEventId: 12 }, 100)).toBeUndefined();
    // Redis's last bounds the slice even when the copy holds more (appended since the bounds were read).
    expect(seqs(history.slice('t', 0, { firstEventId: 1, lastEventId: 4 }, 100)!.events)).toEqual([
      1, 2, 3, 4,
    ]);
    // Nothing after the resume point: an empty slice, as Redis would answer.
    expect(history.slice('t', 10, bounds, 100)).toEqual({ events: [], text: '', ended: false });
    expect(history.slice('other', 0, bounds, 100)).toBeUndefined();
  });

  it('builds the frames of a slice, stopping after the event that reaches maxChars, and marks the end', () => {
    const history = new RedisRecentHistory(ROOMY);
    add(history, 't', 1, 5);
    add(history, 't', 6, 6, 'end');
    const all = batch(1, 6).events.map((e, i) => (i === 5 ? new TaskEvent(6, 'end', e.data) : e));
    const bounds = { firstEventId: 1, lastEventId: 6 };
    const whole = history.slice('t', 0, bounds, 100, 1 << 20)!;
    expect(whole.text).toBe(all.map((e) => e.frame).join(''));
    expect(whole.ended).toBe(true);
    const frameChars = all[0]!.frame.length;
    const part = history.slice('t', 0, bounds, 100, frameChars + 1)!;
    expect(seqs(part.events)).toEqual([1, 2]);
    expect(part.text).toBe(all[0]!.frame + all[1]!.frame);
    expect(part.ended).toBe(false);
  });

  it('keeps what Redis keeps: the newest historyLimit events and historyBytes per task, and the budget of all', () => {
    const byCount = new RedisRecentHistory({ ...ROOMY, historyLimit: 5 });
    add(byCount, 't', 1, 12);
    const bounds = { firstEventId: 1, lastEventId: 12 };
    expect(byCount.slice('t', 0, bounds, 100)).toBeUndefined(); // 1..7 dropped: read from Redis
    expect(seqs(byCount.slice('t', 7, bounds, 100)!.events)).toEqual([8, 9, 10, 11, 12]);

    const size = batch(1, 1).sizes[0]!;
    const byBytes = new RedisRecentHistory({ ...ROOMY, historyBytes: size * 3 });
    add(byBytes, 't', 1, 4);
    expect(seqs(byBytes.slice('t', 1, upTo(4), 100)!.events)).toEqual([2, 3, 4]);

    const byBudget = new RedisRecentHistory({ ...ROOMY, historyBudgetBytes: size * 4 });
    add(byBudget, 'a', 1, 3);
    add(byBudget, 'b', 1, 3);
    expect(byBudget.slice('b', 0, upTo(3), 100)).toBeUndefined(); // b keeps its newest only
    expect(seqs(byBudget.slice('b', 2, upTo(3), 100)!.events)).toEqual([3]);
    byBudget.drop('a');
    add(byBudget, 'b', 4, 6); // a's bytes are free again
    expect(seqs(byBudget.slice('b', 2, upTo(6), 100)!.events)).toEqual([3, 4, 5, 6]);
  });

  it('starts anew when events do not follow its last one (another instance appended between)', () => {
    const history = new RedisRecentHistory(ROOMY);
    add(history, 't', 1, 3);
    add(history, 't', 6, 7);
    const bounds = { firstEventId: 1, lastEventId: 7 };
    expect(history.slice('t', 0, bounds, 100)).toBeUndefined();
    expect(history.slice('t', 4, bounds, 100)).toBeUndefined(); // 5 is not held
    expect(seqs(history.slice('t', 5, bounds, 100)!.events)).toEqual([6, 7]);
  });

  it('forgets a task once dropped, and everything once cleared', () => {
    const history = new RedisRecentHistory(ROOMY);
    add(history, 'a', 1, 3);
    add(history, 'b', 1, 3);
    history.drop('a');
    expect(history.has('a')).toBe(false);
    expect(history.has('b')).toBe(true);
    history.clear();
    expect(history.has('b')).toBe(false);
  });

  it('stays correct over many trims (the array is compacted as it goes)', () => {
    const history = new RedisRecentHistory({ ...ROOMY, historyLimit: 100 });
    for (let from = 1; from <= 10_000; from += 50) add(history, 't', from, from + 49);
    const bounds = { firstEventId: 9_901, lastEventId: 10_000 };
    const slice = history.slice('t', 0, bounds, 1000)!;
    expect(seqs(slice.events)).toEqual(Array.from({ length: 100 }, (_, i) => 9_901 + i));
    expect(slice.events.every((e) => e.data === `"${e.seq}"`)).toBe(true);
  });
});
