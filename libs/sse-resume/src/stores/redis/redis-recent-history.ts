import { END_EVENT } from '../../sse-resume.constants';
import type { TaskEvent } from '../../task-event';

/** The bounds of a task's history in Redis, read just before a slice is taken from memory. */
export interface HistoryBounds {
  firstEventId: number;
  lastEventId: number;
}

/** Events taken from memory for a read: consecutive, the first one right after the resume point or at the bounds' start. */
export interface RecentSlice {
  events: TaskEvent[];
  /** SSE text of `events` (only when asked for frames). */
  text: string;
  ended: boolean;
}

/** What one task keeps: consecutive events `events[head..]`, with their sizes beside them. */
interface TaskHistory {
  events: TaskEvent[];
  sizes: number[];
  head: number;
  bytes: number;
}

/** Limits of the copy; those of the store, so it holds about what Redis holds. */
export interface RecentHistoryLimits {
  historyLimit: number;
  historyBytes: number;
  /** Bytes of all tasks' copies together (the store's `historyBudgetBytes`). */
  historyBudgetBytes: number;
}

/**
 * A copy, in the memory of the instance that owns a task, of the events Redis acknowledged
 * for it (the APPEND script's reply), so that replays on this instance need not fetch
 * history back from Redis. Ids are never reused, so an event held here is exactly the one
 * Redis holds under that id; the copy may only lack some. A read therefore takes the
 * history's bounds from Redis and serves from memory only when the copy holds the start of
 * what was asked: what Redis trimmed (its limits, its global budget) is never handed out,
 * and what the copy lacks is read from Redis.
 */
export class RedisRecentHistory {
  private readonly tasks = new Map<string, TaskHistory>();
  private totalBytes = 0;

  constructor(private readonly limits: RecentHistoryLimits) {}

  /** Whether a copy of the task is held (it is owned here and has stored events since). */
  has(taskId: string): boolean {
    return this.tasks.has(taskId);
  }

  /**
   * Adds consecutive events Redis acknowledged (`sizes[i]`: what `events[i]` counts against
   * the limits). Events that do not follow the copy's last one (another instance appended
   * in between) start the copy anew from them.
   */
  add(taskId: string, events: readonly TaskEvent[], sizes: readonly number[]): void {
    if (events.length === 0) return;
    let history = this.tasks.get(taskId);
    if (history && lastSeq(history) + 1 !== events[0]!.seq) {
      this.drop(taskId);
      history = undefined;
    }
    if (!history) {
      history = { events: [], sizes: [], head: 0, bytes: 0 };
      this.tasks.set(taskId, history);
    }
    for (let i = 0; i < events.length; i++) {
      history.events.push(events[i]!);
      history.sizes.push(sizes[i]!);
      history.bytes += sizes[i]!;
      this.totalBytes += sizes[i]!;
    }
    this.trim(history);
  }

  /** Forgets the copy of a task (it ended, or this instance no longer owns it). */
  drop(taskId: string): void {
    const history = this.tasks.get(taskId);
    if (!history) return;
    this.totalBytes -= history.bytes;
    this.tasks.delete(taskId);
  }

  clear(): void {
    this.tasks.clear();
    this.totalBytes = 0;
  }

  /**
   * The events after `afterId` within `bounds` (Redis's, just read), at most `limit` and, with
   * `maxChars`, stopping after the event whose frame makes the text reach it; `undefined` when
   * the copy does not hold the first of them (read Redis instead). Without `maxChars` (events,
   * not frames) the copy must hold all of them: a reader of events takes a short slice for the
   * end of history. An empty slice means there is nothing after `afterId` within the bounds.
   */
  slice(
    taskId: string,
    afterId: number,
    bounds: HistoryBounds,
    limit: number,
    maxChars?: number,
  ): RecentSlice | undefined {
    const empty: RecentSlice = { events: [], text: '', ended: false };
    const from = Math.max(afterId + 1, bounds.firstEventId);
    if (from > bounds.lastEventId) return empty;
    const history = this.tasks.get(taskId);
    if (!history || history.head === history.events.length) return undefined;
    const first = history.events[history.head]!.seq;
    if (from < first || from > lastSeq(history)) return undefined;
    const wanted = Math.min(bounds.lastEventId, from + Math.max(1, limit) - 1);
    // Events are read until one comes back short (readHistoryChunk): never serve a short one.
    if (maxChars === undefined && lastSeq(history) < wanted) return undefined;
    const to = Math.min(wanted, lastSeq(history));
    const start = history.head + (from - first);
    const end = start + (to - from) + 1;
    if (maxChars === undefined) {
      const events = history.events.slice(start, end);
      return { events, text: '', ended: events[events.length - 1]!.type === END_EVENT };
    }
    let text = '';
    let i = start;
    while (i < end) {
      text += history.events[i++]!.frame;
      if (text.length >= maxChars) break;
    }
    const events = history.events.slice(start, i);
    return { events, text, ended: events[events.length - 1]!.type === END_EVENT };
  }

  /** Drops the oldest events past the task's limits, then past the budget of all copies (the newest stays). */
  private trim(history: TaskHistory): void {
    const { historyLimit, historyBytes, historyBudgetBytes } = this.limits;
    while (
      history.events.length - history.head > 1 &&
      (history.events.length - history.head > historyLimit ||
        history.bytes > historyBytes ||
        this.totalBytes > historyBudgetBytes)
    ) {
      const size = history.sizes[history.head]!;
      history.bytes -= size;
      this.totalBytes -= size;
      history.head++;
    }
    // Shift the array once half of it is dropped events: amortized O(1) per event.
    if (history.head > 1024 && history.head * 2 > history.events.length) {
      history.events = history.events.slice(history.head);
      history.sizes = history.sizes.slice(history.head);
      history.head = 0;
    }
  }
}

function lastSeq(history: TaskHistory): number {
  return history.events[history.events.length - 1]!.seq;
}
