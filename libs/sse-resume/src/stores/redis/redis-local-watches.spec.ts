import { describe, expect, it } from '@jest/globals';
import type { TaskEventListener } from '../../interfaces/task-store.interface';
import { TaskEvent } from '../../task-event';
import { RedisLocalWatches } from './redis-local-watches';

const events = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => new TaskEvent(from + i, 'progress', String(from + i)));

/** A stand-in for pub/sub: what the test publishes reaches every watch of the task. */
function fakeLive() {
  const listeners = new Map<string, Set<{ listener: TaskEventListener; onInterrupted?: () => void }>>();
  return {
    watch: (taskId: string, listener: TaskEventListener, onInterrupted?: () => void) => {
      const entry = { listener, onInterrupted };
      const set = listeners.get(taskId) ?? new Set();
      listeners.set(taskId, set.add(entry));
      return Promise.resolve(() => void set.delete(entry));
    },
    publish: (taskId: string, published: TaskEvent[]) => {
      for (const entry of listeners.get(taskId) ?? []) published.forEach((e) => entry.listener(e));
    },
    interrupt: (taskId: string) => {
      for (const entry of listeners.get(taskId) ?? []) entry.onInterrupted?.();
    },
    count: (taskId: string) => listeners.get(taskId)?.size ?? 0,
  };
}

describe('RedisLocalWatches', () => {
  it('passes acknowledged events on early, once pub/sub has set where the watch is, and drops their pub/sub copies', async () => {
    const live = fakeLive();
    const watches = new RedisLocalWatches(live.watch);
    const seen: number[] = [];
    await watches.watch('t', (e) => seen.push(e.seq));
    watches.acknowledged('t', events(1, 2)); // before any pub/sub event: not known where the watch is
    live.publish('t', events(1, 2));
    watches.acknowledged('t', events(3, 5));
    live.publish('t', events(3, 5));
    watches.acknowledged('t', events(6, 6));
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
    live.publish('t', events(6, 7)); // 6 again, then 7 only from pub/sub (another instance's)
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('never skips an id: an acknowledged batch after a hole waits for pub/sub to bring the hole', async () => {
    const live = fakeLive();
    const watches = new RedisLocalWatches(live.watch);
    const seen: number[] = [];
    await watches.watch('t', (e) => seen.push(e.seq));
    live.publish('t', events(1, 1));
    // Event 2 came from another instance; our write got 3..4 and was acknowledged first.
    watches.acknowledged('t', events(3, 4));
    expect(seen).toEqual([1]);
    live.publish('t', events(2, 4));
    expect(seen).toEqual([1, 2, 3, 4]);
    // A batch that overlaps what was passed on goes on from the next id.
    watches.acknowledged('t', events(4, 6));
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('stops passing events on once pub/sub was interrupted, or the watch stopped', async () => {
    const live = fakeLive();
    const watches = new RedisLocalWatches(live.watch);
    const a: number[] = [];
    const b: number[] = [];
    let interrupted = 0;
    await watches.watch(
      't',
      (e) => a.push(e.seq),
      () => interrupted++,
    );
    const stopB = await watches.watch('t', (e) => b.push(e.seq));
    live.publish('t', events(1, 1));
    live.interrupt('t');
    expect(interrupted).toBe(1);
    watches.acknowledged('t', events(2, 2));
    stopB();
    watches.acknowledged('t', events(3, 3));
    expect(a).toEqual([1]);
    expect(b).toEqual([1]); // its own pub/sub was interrupted too
    expect(live.count('t')).toBe(1); // b let go of its pub/sub watch
  });

  it('keeps tasks apart', async () => {
    const live = fakeLive();
    const watches = new RedisLocalWatches(live.watch);
    const seen: string[] = [];
    await watches.watch('a', (e) => seen.push(`a${e.seq}`));
    await watches.watch('b', (e) => seen.push(`b${e.seq}`));
    live.publish('a', events(1, 1));
    live.publish('b', events(1, 1));
    watches.acknowledged('a', events(2, 2));
    expect(seen).toEqual(['a1', 'b1', 'a2']);
  });
});
