import { PROGRESS_EVENT } from '../sse-resume.constants';
import {
  InvalidEventError,
  TaskAbortedError,
  TaskFencedError,
  TaskNotRunningError,
  TaskOverloadedError,
} from '../errors';
import type { DurableTaskContext } from '../interfaces/durable-task.interface';
import type { EmitOptions } from '../interfaces/task-context.interface';
import { isTerminalStatus, type TerminalStatus } from '../interfaces/task-status.interface';
import type { TaskStore } from '../interfaces/task-store.interface';
import { EmitPacer } from '../tasks/emit-pacer';
import type { TaskSerializer } from '../tasks/task-serializer';
import type { TaskEvent } from '../task-event';
import { RETRY_EVENT } from './durable.constants';

/**
 * Why an attempt is over before its handler settled: `fenced` (a newer attempt claimed the
 * task, or BullMQ's lock was lost), `ended` (the task ended: cancelled, completed or failed
 * by any instance), `timeout`, `shutdown` (this worker hands the job over), `error` (an
 * event could not be stored), `settled` (the handler settled; the processor ends the task).
 */
export type AttemptOver = 'fenced' | 'ended' | 'timeout' | 'shutdown' | 'error' | 'settled';

/** What one attempt's emits need. */
export interface AttemptSettings {
  emitBytesPerTurn: number;
  maxUnstoredBytes: number;
}

/**
 * One attempt of a durable task in this process: its context, its signal, and the local
 * fence: once over, its emits are refused at once (even when the next attempt runs in this
 * same process and the store would take them under the new claim).
 */
export class DurableAttempt {
  private readonly controller = new AbortController();
  private readonly pacer: EmitPacer;
  private overReason: AttemptOver | undefined;
  private endedAs: TerminalStatus | undefined;
  private resolveOver!: () => void;
  /** Resolves when the attempt is over (any reason). */
  readonly whenOver: Promise<void> = new Promise((resolve) => (this.resolveOver = resolve));
  /** An error that made the attempt fail (an event that could not be stored). */
  failure: unknown;
  /** The task's end being stored by the attempt's own timer (a timeout), awaited before the job fails. */
  ending: Promise<void> | undefined;
  readonly context: DurableTaskContext;

  constructor(
    readonly taskId: string,
    readonly attempt: number,
    lastCheckpoint: unknown,
    private readonly store: TaskStore,
    private readonly serializer: TaskSerializer,
    private readonly settings: AttemptSettings,
  ) {
    this.pacer = new EmitPacer(settings.emitBytesPerTurn, settings.maxUnstoredBytes);
    const emit = (data: unknown, options?: EmitOptions): Promise<number> => this.emit(data, options);
    const checkpoint = (state: unknown, data: unknown, options?: EmitOptions): Promise<number> =>
      this.emit(data, options, { state });
    this.context = {
      taskId,
      attempt,
      lastCheckpoint,
      signal: this.controller.signal,
      emit,
      checkpoint,
    } as DurableTaskContext;
  }

  /** Why the attempt is over, or `undefined` while it runs. */
  get over(): AttemptOver | undefined {
    return this.overReason;
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /**
   * Ends the attempt (first call wins): later emits are refused, the signal aborts with
   * `abortReason` (unless the handler settled). Returns false if it was over already.
   */
  end(reason: AttemptOver, abortReason?: TaskAbortedError, endedAs?: TerminalStatus): boolean {
    if (this.overReason !== undefined) return false;
    this.overReason = reason;
    this.endedAs = endedAs;
    // A settled handler's signal stays as it is (as for tasks run in this process).
    if (reason !== 'settled')
      this.controller.abort(abortReason ?? new TaskAbortedError('ended', 'Attempt over'));
    this.resolveOver();
    return true;
  }

  /** Stores an event (and with `state`, the checkpoint), paced like a local task's emits. */
  private emit(
    data: unknown,
    options: EmitOptions | undefined,
    checkpoint?: { state: unknown },
  ): Promise<number> {
    try {
      return this.storeEvent(data, options, checkpoint);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private storeEvent(
    data: unknown,
    options: EmitOptions | undefined,
    checkpoint: { state: unknown } | undefined,
  ): Promise<number> {
    if (this.overReason !== undefined) throw this.refusal();
    const name = options?.event;
    if (name === RETRY_EVENT) throw new InvalidEventError(`the event name "${RETRY_EVENT}" is reserved`);
    const type = name ?? PROGRESS_EVENT;
    const json = this.serializer.event(data, name);
    const checkpointed = checkpoint && this.stateJson(checkpoint.state);
    const size = json.length + type.length + (checkpointed?.length ?? 0);
    if (!this.pacer.admit(size)) {
      const overloaded = new TaskOverloadedError(this.taskId, this.settings.maxUnstoredBytes);
      this.fail(overloaded);
      throw overloaded;
    }
    let stored: Promise<TaskEvent>;
    try {
      stored =
        checkpointed === undefined
          ? this.store.append(this.taskId, type, json)
          : this.store.checkpoint!(this.taskId, type, json, checkpointed);
    } catch (err) {
      stored = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const appended = stored.then(
      (event) => event.seq,
      (err: unknown) => {
        this.onStoreFailed(err);
        throw err;
      },
    );
    const paced = this.pacer.pace(appended, size);
    paced.catch(() => undefined); // safe to leave un-awaited
    return paced;
  }

  private stateJson(state: unknown): string {
    let json: string | undefined;
    try {
      json = JSON.stringify(state);
    } catch (err) {
      throw new InvalidEventError(`checkpoint state is not JSON-serializable (${String(err)})`);
    }
    if (json === undefined) throw new InvalidEventError('checkpoint state is not JSON-serializable');
    return json;
  }

  /** The error a refused emit gets. */
  private refusal(): Error {
    if (this.overReason === 'ended' || this.overReason === 'settled' || this.overReason === 'timeout') {
      return new TaskNotRunningError(this.taskId, this.endedAs ?? 'ended');
    }
    return new TaskFencedError(this.taskId);
  }

  private onStoreFailed(err: unknown): void {
    if (err instanceof TaskFencedError) {
      this.end('fenced', new TaskAbortedError('fenced', err.message));
    } else if (err instanceof TaskNotRunningError && isTerminalStatus(err.taskStatus)) {
      const code = err.taskStatus === 'cancelled' ? 'cancelled' : 'ended';
      this.end('ended', new TaskAbortedError(code, `Task ${err.taskStatus}`), err.taskStatus);
    } else {
      this.fail(err);
    }
  }

  private fail(err: unknown): void {
    if (this.overReason !== undefined) return;
    this.failure = err;
    this.end('error', new TaskAbortedError('ended', 'Task events could not be stored'));
  }
}
