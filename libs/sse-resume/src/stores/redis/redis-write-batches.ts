/** Events sent in one APPEND call at most (more wait for the next call). */
export const MAX_BATCH_EVENTS = 512;
/** Characters of event data in one APPEND call at most (the call that passes it is the last). */
export const MAX_BATCH_CHARS = 4 * 1024 * 1024;

/** A queued write of a task: an append carries its data; anything else (a finish) ends a batch. */
export interface QueuedWrite {
  readonly kind: string;
  readonly data?: string;
}

/**
 * How many of the queued writes at the head go into the next APPEND call: the appends up to
 * the first other write, at most {@link MAX_BATCH_EVENTS}, and no more once their data reached
 * {@link MAX_BATCH_CHARS}.
 */
export function nextBatchSize(ops: readonly QueuedWrite[]): number {
  let count = 0;
  let chars = 0;
  while (count < ops.length && count < MAX_BATCH_EVENTS && chars < MAX_BATCH_CHARS) {
    const next = ops[count]!;
    if (next.kind !== 'append') break;
    chars += next.data?.length ?? 0;
    count++;
  }
  return count;
}
