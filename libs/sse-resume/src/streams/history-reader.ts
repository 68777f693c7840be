import { END_EVENT } from '../sse-resume.constants';
import type { TaskStore } from '../interfaces/task-store.interface';
import type { TaskEvent } from '../task-event';

/** One step of a replay, whether the store gave events or ready-made SSE text. */
export interface ReplayChunk {
  firstEventId: number;
  lastEventId: number;
  count: number;
  /** Id of the last event in the chunk, or where it started when empty. */
  lastId: number;
  ended: boolean;
  events?: readonly TaskEvent[];
  text?: string;
  /** History goes on after this chunk. */
  more: boolean;
}

export interface HistoryReadOptions {
  /** Ask the store for ready-made SSE text when it can build it (a sink writes text). */
  asFrames: boolean;
  /** Events per read. */
  limit: number;
  /** With `asFrames`, stop after the event that makes the text reach this many characters. */
  maxChars: number;
}

/**
 * One step of a replay: the history after `afterId`, as SSE text when the caller writes
 * text and the store can build it (one string per round trip instead of an event per
 * entry), else as events.
 */
export async function readHistoryChunk(
  store: TaskStore,
  taskId: string,
  afterId: number,
  options: HistoryReadOptions,
): Promise<ReplayChunk> {
  if (options.asFrames && store.readFrames) {
    const slice = await store.readFrames(taskId, afterId, options.limit, options.maxChars);
    return { ...slice, more: slice.lastId < slice.lastEventId };
  }
  const slice = await store.read(taskId, afterId, options.limit);
  const last = slice.events[slice.events.length - 1];
  return {
    firstEventId: slice.firstEventId,
    lastEventId: slice.lastEventId,
    count: slice.events.length,
    lastId: last?.seq ?? afterId,
    ended: last?.type === END_EVENT,
    events: slice.events,
    more: slice.events.length >= options.limit,
  };
}
