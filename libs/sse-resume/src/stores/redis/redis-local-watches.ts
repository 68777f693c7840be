import type { TaskEventListener } from '../../interfaces/task-store.interface';
import type { TaskEvent } from '../../task-event';

/**
 * One watch of a task on this instance, fed from two sources: Redis pub/sub (every event,
 * in order, but a round trip late) and this instance's own writes once Redis acknowledged
 * them (early, but only ours). It passes each id on once, in order, never skipping one:
 * pub/sub sets where the watch is, and an acknowledged event goes out early only if it is
 * the very next id; otherwise (another instance's event came between) pub/sub brings it.
 */
class MergedWatch {
  /** Last id passed on; -1 until pub/sub delivered the first event. */
  private last = -1;
  private stopped = false;

  constructor(private readonly listener: TaskEventListener) {}

  fromLive(event: TaskEvent): void {
    if (this.stopped || event.seq <= this.last) return;
    this.last = event.seq;
    this.listener(event);
  }

  fromAck(events: readonly TaskEvent[]): void {
    if (this.stopped || this.last < 0) return;
    for (const event of events) {
      if (event.seq <= this.last) continue;
      if (event.seq !== this.last + 1) return;
      this.last = event.seq;
      this.listener(event);
      if (this.stopped) return;
    }
  }

  stop(): void {
    this.stopped = true;
  }
}

/** Subscribes to a task's live events (pub/sub); see `TaskStore.watch`. */
export type LiveWatch = (
  taskId: string,
  listener: TaskEventListener,
  onInterrupted?: () => void,
) => Promise<() => void>;

/**
 * This instance's watches, each getting the events this instance stored as soon as Redis
 * acknowledged them (the APPEND / FINISH script's reply) as well as from pub/sub, deduped
 * by id: live delivery without the pub/sub round trip on the instance that writes. Only
 * acknowledged events are handed out, and pub/sub stays the source of every other event.
 */
export class RedisLocalWatches {
  private readonly watches = new Map<string, Set<MergedWatch>>();

  constructor(private readonly live: LiveWatch) {}

  async watch(taskId: string, listener: TaskEventListener, onInterrupted?: () => void): Promise<() => void> {
    const merged = new MergedWatch(listener);
    const unwatch = await this.live(
      taskId,
      (event) => merged.fromLive(event),
      () => {
        merged.stop();
        onInterrupted?.();
      },
    );
    let set = this.watches.get(taskId);
    if (!set) {
      set = new Set();
      this.watches.set(taskId, set);
    }
    set.add(merged);
    const watches = set;
    return () => {
      merged.stop();
      watches.delete(merged);
      if (watches.size === 0 && this.watches.get(taskId) === watches) this.watches.delete(taskId);
      unwatch();
    };
  }

  /** Events of the task that Redis acknowledged for a write of this instance, in id order. */
  acknowledged(taskId: string, events: readonly TaskEvent[]): void {
    const set = this.watches.get(taskId);
    if (!set) return;
    for (const watch of set) watch.fromAck(events);
  }

  clear(): void {
    for (const set of this.watches.values()) for (const watch of set) watch.stop();
    this.watches.clear();
  }
}
