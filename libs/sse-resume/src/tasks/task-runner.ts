import type { LoggerService } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { PROGRESS_EVENT } from '../sse-resume.constants';
import {
  StoreUnavailableError,
  TaskAbortedError,
  TaskError,
  TaskNotRunningError,
  TaskOverloadedError,
} from '../errors';
import type { ResolvedSseResumeOptions } from '../interfaces/sse-resume-options.interface';
import type {
  EmitOptions,
  StartedTask,
  StartTaskOptions,
  TaskContext,
  TaskSource,
} from '../interfaces/task-context.interface';
import { isTerminalStatus, type TerminalStatus } from '../interfaces/task-status.interface';
import type { TaskStore, TaskTermination } from '../interfaces/task-store.interface';
import type { TaskAccessChecker } from '../access/task-access-checker';
import { createTask } from './create-task';
import { EmitPacer } from './emit-pacer';
import { checkMetadata, type Outcome, publicMessage, TaskSerializer } from './task-serializer';
import { runSource } from './task-sources';
import type { TaskEvent } from '../task-event';
import { errorStack, errorText, logRecord } from '../log-record';
import { NOOP_METRICS, type SseResumeMetrics } from '../metrics/sse-resume-metrics';

/** A task running in this process. */
interface LocalTask {
  readonly taskId: string;
  readonly controller: AbortController;
  readonly pacer: EmitPacer;
  timer: NodeJS.Timeout | undefined;
  /** Set the moment the task ends, before the store is told, so later emits are refused. */
  endedAs: TerminalStatus | undefined;
}

/**
 * An end that could not be stored is retried this often until it is (or the app shuts down):
 * given up, it would leave the task `running` in a shared store, its lease renewed for good.
 * The failure is logged once per this many attempts.
 */
const END_RETRY_MS = 1_000;
const END_RETRY_LOG_EVERY = 60;
/** setTimeout fires at once (after 1 ms) for delays above this. */
const MAX_TIMEOUT_MS = 2_147_483_647;

function noop(): void {}

/**
 * Runs tasks in this process: starts them detached, stores what they emit (paced), ends
 * them exactly once (completed, failed, cancelled, timed out, shut down) and retries
 * storing an end until the store has it. Tasks run elsewhere are ended through the store.
 */
export class TaskRunner {
  private readonly running = new Map<string, LocalTask>();
  private readonly serializer: TaskSerializer;
  /** Identifies this instance as a task's owner in shared stores. */
  readonly instanceId = randomUUID();
  private shuttingDown = false;
  private stopListening: (() => void) | undefined;

  constructor(
    private readonly store: TaskStore,
    private readonly options: ResolvedSseResumeOptions,
    private readonly access: TaskAccessChecker,
    private readonly logger: LoggerService,
    private readonly metrics: SseResumeMetrics = NOOP_METRICS,
  ) {
    this.serializer = new TaskSerializer(options.maxEventBytes, logger);
  }

  /** Tasks running in this process. */
  get size(): number {
    return this.running.size;
  }

  /** Stops local tasks that another path ended (cancelled on another instance, failed by a reaper). */
  listenForEnds(): void {
    this.stopListening = this.store.onTaskEnded?.((taskId, status) => {
      const task = this.running.get(taskId);
      if (task) this.stopEndedElsewhere(task, status);
    });
  }

  stopListeningForEnds(): void {
    this.stopListening?.();
  }

  async start<R>(source: TaskSource<R>, options: StartTaskOptions): Promise<StartedTask> {
    const timeoutMs = options.timeoutMs ?? this.options.defaultTimeoutMs;
    if (
      timeoutMs !== undefined &&
      (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_TIMEOUT_MS)
    ) {
      throw new RangeError(
        `timeoutMs must be an integer from 1 to ${MAX_TIMEOUT_MS}, got ${String(timeoutMs)}`,
      );
    }
    if (this.shuttingDown) throw new StoreUnavailableError('the server is shutting down');
    const metadata = checkMetadata(options.metadata);
    const { taskId, resumeKey } = await createTask(this.store, {
      ownerId: this.instanceId,
      ...(metadata && { metadata }),
    });
    const task: LocalTask = {
      taskId,
      controller: new AbortController(),
      pacer: new EmitPacer(this.options.emitBytesPerTurn, this.options.maxUnstoredBytes),
      timer: undefined,
      endedAs: undefined,
    };
    this.running.set(taskId, task);
    this.metrics.taskStarted();
    if (timeoutMs !== undefined) {
      task.timer = setTimeout(() => {
        const message = `Task timed out after ${timeoutMs} ms`;
        void this.endLocal(
          task,
          { status: 'failed', error: message },
          new TaskAbortedError('timeout', message),
        );
      }, timeoutMs);
    }
    void this.run(task, source);
    return { taskId, resumeKey };
  }

  /** Emits on a task: a local one through its pacer, another instance's straight to the store. */
  async updateProgress(taskId: string, data: unknown, options: EmitOptions): Promise<number> {
    const local = this.running.get(taskId);
    if (local) return this.emit(local, data, options);
    const json = this.serializer.event(data, options.event);
    await this.access.requireRunning(taskId);
    const event = await this.store.append(taskId, options.event ?? PROGRESS_EVENT, json);
    this.metrics.eventEmitted(event);
    return event.seq;
  }

  /** Ends a running task, here or (through the store) wherever it runs. 409 if it has ended. */
  async end(taskId: string, outcome: Outcome, abortReason: TaskAbortedError): Promise<void> {
    const local = this.running.get(taskId);
    if (local && (await this.endLocal(local, outcome, abortReason))) return;
    // Not running here: a task of a shared store run by another instance, or an ended one.
    await this.access.requireRunning(taskId);
    if ((await this.store.finish(taskId, this.serializer.termination(outcome, taskId))) === undefined) {
      const lookup = await this.store.lookup(taskId);
      throw new TaskNotRunningError(taskId, lookup.state === 'found' ? lookup.task.status : 'expired');
    }
  }

  /** Refuses new tasks and waits up to `graceMs` for the running ones to end by themselves. */
  async shutDown(graceMs: number): Promise<void> {
    this.shuttingDown = true;
    const deadline = Date.now() + graceMs;
    while (this.running.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(50, deadline - Date.now())));
    }
  }

  /** Fails every task still running here (the end of a shutdown). */
  async failAll(): Promise<void> {
    const ending = [...this.running.values()].map((task) =>
      this.endLocal(
        task,
        { status: 'failed', error: 'Server shut down before the task finished' },
        new TaskAbortedError('shutdown', 'Server shutting down'),
      ),
    );
    await Promise.all(ending);
  }

  private async run(task: LocalTask, source: TaskSource): Promise<void> {
    const context: TaskContext = {
      taskId: task.taskId,
      signal: task.controller.signal,
      emit: (data: unknown, options?: EmitOptions) => this.emit(task, data, options),
    };
    let result: unknown;
    try {
      // Not started synchronously: start() resolves first, whatever the task does.
      await Promise.resolve();
      result = await runSource(context, source);
    } catch (err) {
      if (task.endedAs === undefined) {
        if (!(err instanceof TaskError)) {
          this.logger.error(
            logRecord('task failed', { taskId: task.taskId, error: errorText(err) }),
            errorStack(err),
          );
        }
        await this.endLocal(task, { status: 'failed', error: publicMessage(err) });
      }
      return;
    }
    if (task.endedAs === undefined) await this.endLocal(task, { status: 'completed', result });
  }

  /** Stores an event of a local task, paced by its {@link EmitPacer}. */
  private emit(task: LocalTask, data: unknown, options?: EmitOptions): Promise<number> {
    if (task.endedAs !== undefined) throw new TaskNotRunningError(task.taskId, task.endedAs);
    const name = options?.event;
    const type = name ?? PROGRESS_EVENT;
    const json = this.serializer.event(data, name);
    const size = json.length + type.length;
    if (!task.pacer.admit(size)) {
      const overloaded = new TaskOverloadedError(task.taskId, this.options.maxUnstoredBytes);
      this.logger.error(
        logRecord('task overloaded; failing it', { taskId: task.taskId, error: overloaded.message }),
      );
      const abort = new TaskAbortedError('ended', overloaded.message);
      void this.endLocal(task, { status: 'failed', error: overloaded.message }, abort);
      throw overloaded;
    }
    return this.store.appendNow
      ? this.storeNow(task, type, json, size)
      : this.storeLater(task, type, json, size);
  }

  /**
   * The store appends at once: no promise waits on it, and the emit's promise is only what
   * the caller gets back (settled, or pending past the turn when over the pacer's budget).
   */
  private storeNow(task: LocalTask, type: string, json: string, size: number): Promise<number> {
    let event: TaskEvent;
    try {
      event = this.store.appendNow!(task.taskId, type, json);
    } catch (err) {
      task.pacer.refused(size);
      const failed = Promise.reject(err instanceof Error ? err : new Error(String(err)));
      // Handled (so safe to leave un-awaited), and reported a microtask later, as a rejection is.
      failed.catch((reason: unknown) => this.onEmitFailed(task, reason));
      return failed;
    }
    this.metrics.eventEmitted(event);
    return task.pacer.stored(event.seq, size);
  }

  /** The store appends asynchronously (a networked store). */
  private storeLater(task: LocalTask, type: string, json: string, size: number): Promise<number> {
    let stored: Promise<TaskEvent>;
    try {
      stored = this.store.append(task.taskId, type, json);
    } catch (err) {
      // A store whose append throws at once: released and reported like a rejection.
      stored = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const appended = stored.then(
      (event) => {
        this.metrics.eventEmitted(event);
        return event.seq;
      },
      (err: unknown) => {
        this.onEmitFailed(task, err);
        throw err;
      },
    );
    const paced = task.pacer.pace(appended, size);
    paced.catch(noop); // safe to leave un-awaited
    return paced;
  }

  /** An event that could not be stored must not vanish quietly: the task fails. */
  private onEmitFailed(task: LocalTask, err: unknown): void {
    if (
      task.endedAs === undefined &&
      err instanceof TaskNotRunningError &&
      isTerminalStatus(err.taskStatus)
    ) {
      // Ended elsewhere (cancelled on another instance, failed by a reaper) before the news came.
      this.stopEndedElsewhere(task, err.taskStatus);
    }
    if (task.endedAs !== undefined) return;
    this.logger.error(
      logRecord('an event could not be stored; failing the task', {
        taskId: task.taskId,
        error: errorText(err),
      }),
      errorStack(err),
    );
    const message = 'Task events could not be stored';
    void this.endLocal(task, { status: 'failed', error: message }, new TaskAbortedError('ended', message));
  }

  /** Stops a local task whose end was stored by another path (nothing to store here). */
  private stopEndedElsewhere(task: LocalTask, status: TerminalStatus): void {
    if (task.endedAs !== undefined) return;
    task.endedAs = status;
    if (task.timer) clearTimeout(task.timer);
    this.running.delete(task.taskId);
    this.metrics.taskEnded(status);
    task.controller.abort(
      new TaskAbortedError(status === 'cancelled' ? 'cancelled' : 'ended', `Task ${status} elsewhere`),
    );
  }

  /** Ends a task this process runs. Returns false if it had ended already. */
  private async endLocal(
    task: LocalTask,
    outcome: Outcome,
    abortReason?: TaskAbortedError,
  ): Promise<boolean> {
    if (task.endedAs !== undefined) return false;
    task.endedAs = outcome.status;
    if (task.timer) clearTimeout(task.timer);
    this.running.delete(task.taskId);
    this.metrics.taskEnded(outcome.status);
    if (abortReason) task.controller.abort(abortReason);
    await this.storeEnd(task.taskId, this.serializer.termination(outcome, task.taskId), outcome.status);
    return true;
  }

  /**
   * Stores a task's end, retrying while the store is unreachable: an end must not vanish.
   * (This instance renews the task's lease meanwhile, so no orphan reaper would end it.)
   */
  private async storeEnd(
    taskId: string,
    termination: TaskTermination,
    status: TerminalStatus,
  ): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.store.finish(taskId, termination);
        return;
      } catch (err) {
        const retry = err instanceof StoreUnavailableError && !this.shuttingDown;
        if (!retry || attempt % END_RETRY_LOG_EVERY === 1) {
          this.logger.error(
            logRecord(`the task's end could not be stored${retry ? '; retrying' : ''}`, {
              taskId,
              status,
              attempt,
              error: errorText(err),
            }),
          );
        }
        if (!retry) return;
        await new Promise((resolve) => setTimeout(resolve, END_RETRY_MS).unref());
      }
    }
  }
}
