import type { Observable } from 'rxjs';

/**
 * The events of a task, by name: `{ progress: ProgressData; log: LogLine }`. One interface
 * can be shared by the server (`start<Events>()`, `TaskContext<Events>`) and a client. Any
 * object type (an `interface` too, which has no index signature); `progress` is the event
 * `emit(data)` sends without a name.
 */
export type TaskEventMap = object;

/**
 * The map of tasks started without one. A map without keys (this one, `{}`) types nothing:
 * any event name, any data, as before event maps existed.
 */
export type DefaultTaskEvents = TaskEventMap;

/** The map `emit()` is typed by: `E`, or any name → any data when `E` has no keys. */
export type ResolvedTaskEvents<E extends TaskEventMap> = [keyof E] extends [never]
  ? Record<string, unknown>
  : E;

/** The data of a map's `progress` event (`never` when the map has other events but not this one). */
export type ProgressData<E extends TaskEventMap> = 'progress' extends keyof ResolvedTaskEvents<E>
  ? ResolvedTaskEvents<E>['progress' & keyof ResolvedTaskEvents<E>]
  : never;

/**
 * The event names `emit(data, options?)` takes when `options.event` may be absent: only
 * `progress` with a map, any (an `EmitOptions` as it comes) without one.
 */
export type UnnamedEvent<E extends TaskEventMap> = [keyof E] extends [never] ? string : 'progress';

/** Options of one emitted event. */
export interface EmitOptions<K extends string = string> {
  /** SSE event name (`event:` field). Default `progress`; `end`, `gap`, `error` and `message` are reserved. */
  event?: K;
}

/** What a task function receives; `E` types what it emits. */
export interface TaskContext<E extends TaskEventMap = DefaultTaskEvents> {
  readonly taskId: string;
  /**
   * Aborted when the task is cancelled, times out, or the application shuts down.
   * Never aborted because a subscriber disconnected.
   */
  readonly signal: AbortSignal;
  /**
   * Stores one event (JSON-serializable `data`) and sends it to every subscriber:
   * `emit(data)` a `progress` event (`data: E['progress']`), `emit(data, { event: 'log' })`
   * a named one (`data: E['log']`).
   * Throws `TaskNotRunningError` once the task has ended and `InvalidEventError` for a
   * reserved name or data that cannot be stored. The promise resolves to the event's id
   * once the store has it, and past `emitBytesPerTurn` in one turn only after the event
   * loop's next turn: await it and a loop is paced to what the store and the server take.
   * Not awaiting it is safe (a store failure fails the task), but unpaced: past
   * `maxUnstoredBytes` waiting for the store it throws `TaskOverloadedError` and the task fails.
   */
  emit(data: ProgressData<E>, options?: EmitOptions<UnnamedEvent<E>>): Promise<number>;
  emit<K extends keyof ResolvedTaskEvents<E> & string>(
    data: ResolvedTaskEvents<E>[K],
    options: EmitOptions<K> & { event: K },
  ): Promise<number>;
}

/** A task written as a function; its resolved value becomes `result` of the `end` event. */
export type TaskFunction<R = unknown, E extends TaskEventMap = DefaultTaskEvents> = (
  context: TaskContext<E>,
) => Promise<R> | R;

/**
 * What can run as a task: a function, or an Observable / AsyncIterable whose values are
 * emitted as `progress` events (completion completes the task, an error fails it).
 */
export type TaskSource<R = unknown, E extends TaskEventMap = DefaultTaskEvents> =
  | TaskFunction<R, E>
  | Observable<ProgressData<E>>
  | AsyncIterable<ProgressData<E>>;

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
