import type { SourceEvent } from '../../interfaces/task-store.interface';
import type { TaskEvent } from '../../task-event';
import type { PendingAppend } from './redis-write-queue';

/** Events sent in one APPEND call at most (more wait for the next call). */
export const MAX_BATCH_EVENTS = 512;
/** Characters of event data in one APPEND call at most (the call that passes it is the last). */
export const MAX_BATCH_CHARS = 4 * 1024 * 1024;

/**
 * A queued write of a task: an append carries its data (and a checkpoint's event its state,
 * which closes the batch); anything else (a finish, an appendOnce) ends a batch.
 */
export interface QueuedWrite {
  readonly kind: string;
  readonly data?: string;
  readonly checkpoint?: string;
}

/**
 * How many of the queued writes at the head go into the next APPEND call: the appends up to
 * the first other write, at most {@link MAX_BATCH_EVENTS}, and no more once their data reached
 * {@link MAX_BATCH_CHARS}, or once a checkpoint's event is in (it is the call's last event,
 * whose id the checkpoint is stored with).
 */
export function nextBatchSize(ops: readonly QueuedWrite[]): number {
  let count = 0;
  let chars = 0;
  while (count < ops.length && count < MAX_BATCH_EVENTS && chars < MAX_BATCH_CHARS) {
    const next = ops[count]!;
    if (next.kind !== 'append') break;
    chars += next.data?.length ?? 0;
    count++;
    if (next.checkpoint !== undefined) break;
  }
  return count;
}

/** The events of an appendOnce as the appends of its one APPEND call; `stored` is told each event stored. */
export function onceBatch(
  events: readonly SourceEvent[],
  stored: (event: TaskEvent) => void,
): PendingAppend[] {
  return events.map((event) => ({
    kind: 'append',
    type: event.type,
    data: event.data,
    size: Buffer.byteLength(event.data) + event.type.length,
    resolve: stored,
    reject: () => undefined,
  }));
}
