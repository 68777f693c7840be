import type {
  DefaultTaskEvents,
  EmitOptions,
  ProgressData,
  ResolvedTaskEvents,
  StartTaskOptions,
  TaskContext,
  TaskEventMap,
  UnnamedEvent,
} from './task-context.interface';

/**
 * What a named task handler receives: a {@link TaskContext} plus the attempt and the
 * checkpoint of durable tasks. `S` types the checkpoint state (JSON-serializable).
 */
export interface DurableTaskContext<E extends TaskEventMap = DefaultTaskEvents, S = unknown>
  extends TaskContext<E> {
  /** 1 for the first attempt; a durable task's later attempts (after a crash or a throw) count on. */
  readonly attempt: number;
  /** The state of the newest `checkpoint()` of an earlier attempt (or of this one), if any. */
  readonly lastCheckpoint: S | undefined;
  /**
   * Emits `data` (like `emit`) and stores `state` with that event, atomically: the next
   * attempt starts from `lastCheckpoint === state` and the stream from the event after it.
   * Resolves to the event's id once stored.
   */
  checkpoint(state: S, data: ProgressData<E>, options?: EmitOptions<UnnamedEvent<E>>): Promise<number>;
  checkpoint<K extends keyof ResolvedTaskEvents<E> & string>(
    state: S,
    data: ResolvedTaskEvents<E>[K],
    options: EmitOptions<K> & { event: K },
  ): Promise<number>;
}

/**
 * A task type registered by name with `@TaskHandler(name)` on a provider: started with
 * `tasks.start(name, input, options)`, in this process or (`durable: true`) as a BullMQ job
 * that any worker instance may run. The input must be JSON-serializable.
 */
export interface DurableTaskHandler<
  I = unknown,
  R = unknown,
  E extends TaskEventMap = DefaultTaskEvents,
  S = unknown,
> {
  run(input: I, context: DurableTaskContext<E, S>): Promise<R> | R;
}

/** Backoff between a durable task's attempts after a throw (BullMQ's). */
export type DurableBackoff = number | { type: 'fixed' | 'exponential'; delay: number };

/** Options of `start(name, input, options)`. */
export interface StartNamedTaskOptions extends StartTaskOptions {
  /**
   * Run as a BullMQ job (needs `durable` in the module options): the task survives the
   * death of the worker running it. Default false: it runs in this process.
   */
  durable?: boolean;
  /** Durable: attempts in all after throws (BullMQ's `attempts`). Default from the module options (3). */
  attempts?: number;
  /** Durable: wait between attempts after a throw. */
  backoff?: DurableBackoff;
  /** Durable: BullMQ priority (1 = highest). */
  priority?: number;
  /** Durable: ms before the job may start. */
  delay?: number;
}
