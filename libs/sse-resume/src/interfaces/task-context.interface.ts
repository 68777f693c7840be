import type { Observable } from 'rxjs';

/** Options of one emitted event. */
export interface EmitOptions {
  /** SSE event name (`event:` field). Default `progress`; `end`, `gap`, `error` and `message` are reserved. */
  event?: string;
}

/** What a task function receives. */
export interface TaskContext {
  readonly taskId: string;
  /**
   * Aborted when the task is cancelled, times out, or the application shuts down.
   * Never aborted because a subscriber disconnected.
   */
  readonly signal: AbortSignal;
  /**
   * Stores one event (JSON-serializable `data`) and sends it to every subscriber.
   * Throws `TaskNotRunningError` once the task has ended and `InvalidEventError` for a
   * reserved name or data that cannot be stored. The promise resolves to the event's id
   * once the store has it, and past `emitBytesPerTurn` in one turn only after the event
   * loop's next turn: await it and a loop is paced to what the store and the server take.
   * Not awaiting it is safe (a store failure fails the task), but unpaced: past
   * `maxUnstoredBytes` waiting for the store it throws `TaskOverloadedError` and the task fails.
   */
  emit(data: unknown, options?: EmitOptions): Promise<number>;
}

/** A task written as a function; its resolved value becomes `result` of the `end` event. */
export type TaskFunction<R = unknown> = (context: TaskContext) => Promise<R> | R;

/**
 * What can run as a task: a function, or an Observable / AsyncIterable whose values are
 * emitted as `progress` events (completion completes the task, an error fails it).
 */
export type TaskSource<R = unknown> = TaskFunction<R> | Observable<unknown> | AsyncIterable<unknown>;

export interface StartTaskOptions {
  /** Fails the task (`Task timed out after N ms`) and aborts its signal after this long. */
  timeoutMs?: number;
  /**
   * Strings to keep with the task (at most 4 KiB as JSON), e.g. `{ userId }`: reported by
   * `getTaskInfo()` and given to the `authorize` hook, to tie tasks to your users.
   */
  metadata?: Record<string, string>;
}

export interface StartedTask {
  taskId: string;
  /** The secret that every stream, status and cancel request of this task must present. */
  resumeKey: string;
}
