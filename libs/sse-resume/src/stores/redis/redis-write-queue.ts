import type { SourceEvent, TaskTermination } from '../../interfaces/task-store.interface';
import type { TaskEvent } from '../../task-event';
import type { EventToAppend, WriteToken } from './redis-write-scripts';

/* What the writer (redis-task-writer.ts) queues per task, and the calls it has in flight. */

/** An event to append (with `checkpoint`: a checkpoint's event, which closes its APPEND call). */
export interface PendingAppend extends EventToAppend {
  kind: 'append';
  resolve: (event: TaskEvent) => void;
  reject: (err: unknown) => void;
}

export interface PendingFinish {
  kind: 'finish';
  termination: TaskTermination;
  resolve: (event: TaskEvent | undefined) => void;
  reject: (err: unknown) => void;
}

/**
 * An appendOnce: its events go in one APPEND call of their own, applied only if `position`
 * sorts after the source's last one; resolves to the events appended (`[]` if none).
 */
export interface PendingOnce {
  kind: 'once';
  source: string;
  position: string;
  events: SourceEvent[];
  resolve: (events: TaskEvent[]) => void;
  reject: (err: unknown) => void;
}

export type PendingWrite = PendingAppend | PendingFinish | PendingOnce;

/** An APPEND call sent and not settled yet; `outcome` is set when its reply (or failure) came. */
export interface SentCall {
  readonly batch: PendingAppend[];
  readonly token: WriteToken;
  readonly fence: string;
  readonly owned: boolean;
  settled: Promise<void>;
  outcome?: { first: number } | { err: unknown };
}

/** Writes of one task from this instance, in call order. */
export interface WriteQueue {
  ops: PendingWrite[];
  /** APPEND calls in flight, in send order (Redis applies them in that order: one connection). */
  inFlight: SentCall[];
  /** Last id an APPEND of this queue was acknowledged; until known, one call at a time. */
  lastAcked: number | undefined;
  pumpScheduled: boolean;
  /** A FINISH, an appendOnce, or the recovery from a lost connection, runs: nothing else is sent meanwhile. */
  exclusive: boolean;
}
