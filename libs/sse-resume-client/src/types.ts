/**
 * The protocol's outcomes as types. One event map, written once and imported by the server
 * (`SseTaskService.start<E, R>`) and the client (`client.stream<E, R>()`), types both sides:
 *
 * ```ts
 * export interface ExportEvents { progress: { done: number; total: number }; log: { line: string } }
 * export interface ExportResult { url: string }
 * ```
 */

/** Event names the server writes itself; a task never emits them. */
export type ReservedEventName = 'end' | 'gap' | 'error' | 'message';

/** The event map of a task whose events are not typed: any name, any payload. */
export type AnyTaskEvents = Record<string, unknown>;

/** How a task ended. */
export type TerminalStatus = 'completed' | 'failed' | 'cancelled';

type EventNames<E> = Exclude<keyof E, ReservedEventName> & string;

/** An event the task emitted (`progress` unless it named another), with its sequence id. */
export type TaskDataEvent<E = AnyTaskEvents> = {
  [K in EventNames<E>]: { readonly type: K; readonly id: number; readonly data: E[K] };
}[EventNames<E>];

/** Events `from`..`to` (inclusive) are no longer in the server's history: they are lost. */
export interface TaskGapEvent {
  readonly type: 'gap';
  /** Equal to `to`: the stream goes on after it. */
  readonly id: number;
  readonly from: number;
  readonly to: number;
}

/** The last event of every task, sent once. */
export interface TaskEndEvent<R = unknown> {
  readonly type: 'end';
  readonly id: number;
  readonly status: TerminalStatus;
  /** What the task returned (`completed` only). */
  readonly result?: R;
  /** Why it failed or was cancelled (a public message; details stay in the server's log). */
  readonly error?: string;
}

/** Everything a task stream yields, in id order, each id once. */
export type TaskStreamEvent<E = AnyTaskEvents, R = unknown> =
  | TaskDataEvent<E>
  | TaskGapEvent
  | TaskEndEvent<R>;

/** What the start route answers. */
export interface StartedTask {
  readonly taskId: string;
  /** Absent when the route keeps the key out of reach of scripts (an HttpOnly cookie carries it). */
  readonly resumeKey?: string;
}

/** What the task route answers to GET (the server's `getTaskInfo()`, as JSON). */
export interface TaskInfo {
  readonly taskId: string;
  readonly status: 'running' | TerminalStatus;
  /** ISO-8601. */
  readonly createdAt: string;
  readonly updatedAt: string;
  /** When a finished task stops being resumable (ISO-8601); `null` while it runs. */
  readonly expiresAt: string | null;
  /** Id of the newest event (the `end` once finished); 0 before the first. */
  readonly lastEventId: number;
  /** Open streams of the task on the instance that answered. */
  readonly subscribers: number;
  /** The public message of a failed or cancelled task. */
  readonly error?: string;
  readonly metadata?: Record<string, string>;
}
