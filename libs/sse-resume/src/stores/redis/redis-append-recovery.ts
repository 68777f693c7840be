/*
 * Where pipelined APPEND calls landed after a connection loss. The writer keeps several
 * calls of one task in flight; a lost connection loses their replies, and REPLAYED_WRITE
 * remembers only this instance's last applied write (`w:<writer>` = `<write>:<first id>`).
 * Calls on one connection are applied in order, so every write up to that one was applied
 * and every later one was not: those are sent again (each then the newest, so its retry
 * is recognized as before), and the ids of the applied ones are placed from what is known.
 */

/** One APPEND call of the writer whose outcome is being settled, in send order. */
export interface SentAppend {
  /** Its token's write number (increasing in send order). */
  readonly write: number;
  readonly count: number;
  /** Its first id, when its reply arrived. */
  readonly first?: number;
}

/** The writer's last applied write on the task, as Redis recorded it. */
export interface LastApplied {
  readonly write: number;
  readonly first: number;
}

/** Applied at `first`; or not applied (send it again); or applied at ids the counts do not tell. */
export type Placement = { readonly first: number } | 'resend' | 'unplaced';

/** Parses the `w:<writer>` field (`<write>:<first id>`); `undefined` when absent. */
export function parseLastApplied(field: string | null | undefined): LastApplied | undefined {
  const match = field ? /^(\d+):(\d+)$/.exec(field) : null;
  return match ? { write: Number(match[1]), first: Number(match[2]) } : undefined;
}

/**
 * Places each write: known from its reply, not applied (after the last applied one),
 * the last applied one itself, or one applied before it. Those are placed by counting
 * back from the next placed write when the ids between the last id acknowledged before
 * them (`lastAcked`) and that write hold exactly their events (so no other instance's
 * event came between); otherwise they are `unplaced` (see {@link matchBatches}).
 */
export function placeWrites(
  writes: readonly SentAppend[],
  lastAcked: number | undefined,
  lastApplied: LastApplied | undefined,
): Placement[] {
  const applied = lastApplied?.write ?? -1;
  const placements: Placement[] = writes.map((w) => {
    if (w.first !== undefined) return { first: w.first };
    if (w.write > applied) return 'resend';
    if (w.write === applied) return { first: lastApplied!.first };
    return 'unplaced';
  });
  let previousLast = lastAcked;
  let i = 0;
  while (i < writes.length) {
    const placement = placements[i]!;
    if (placement === 'resend') break; // every later one is not applied either
    if (placement !== 'unplaced') {
      previousLast = placement.first + writes[i]!.count - 1;
      i++;
      continue;
    }
    let end = i; // the run of unplaced writes is i .. end - 1; writes[end] is placed
    let events = 0;
    while (placements[end] === 'unplaced') events += writes[end++]!.count;
    const next = placements[end];
    if (previousLast !== undefined && typeof next === 'object' && next.first - previousLast - 1 === events) {
      let first = previousLast + 1;
      for (let j = i; j < end; j++) {
        placements[j] = { first };
        first += writes[j]!.count;
      }
    }
    i = end;
  }
  return placements;
}

/** An entry of a task's history: id, type, data. */
export interface HistoryEntry {
  readonly seq: number;
  readonly type: string;
  readonly data: string;
}

/**
 * The first id of each batch within `entries` (consecutive ids, in order; other
 * instances' events may lie between the batches, never inside one: a call is atomic),
 * matching each batch's events in order; `undefined` if some batch is not found.
 */
export function matchBatches(
  entries: readonly HistoryEntry[],
  batches: readonly (readonly { type: string; data: string }[])[],
): number[] | undefined {
  const firsts: number[] = [];
  let from = 0;
  for (const batch of batches) {
    let found = -1;
    for (let p = from; p + batch.length <= entries.length && found < 0; p++) {
      if (batch.every((e, k) => entries[p + k]!.type === e.type && entries[p + k]!.data === e.data))
        found = p;
    }
    if (found < 0) return undefined;
    firsts.push(entries[found]!.seq);
    from = found + batch.length;
  }
  return firsts;
}

/** `placements` with each 'unplaced' write placed by its events in `entries` (unchanged if one is not found). */
export function placeByContents(
  placements: readonly Placement[],
  batches: readonly (readonly { type: string; data: string }[])[],
  entries: readonly HistoryEntry[],
): Placement[] {
  const firsts = matchBatches(
    entries,
    batches.filter((_, i) => placements[i] === 'unplaced'),
  );
  if (!firsts) return [...placements];
  let k = 0;
  return placements.map((p) => (p === 'unplaced' ? { first: firsts[k++]! } : p));
}
