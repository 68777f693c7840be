import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  MessageEvent,
  OnApplicationShutdown,
  OnModuleInit,
  Optional,
} from '@nestjs/common';
import type { Observable } from 'rxjs';
import { SSE_RESUME_RESOLVED_OPTIONS } from './sse-resume.module-definition';
import { LOGGER_NAME, SHARED_STORE_WITHOUT_ON_TASK_ENDED } from './sse-resume.messages';
import { TaskAbortedError, TaskNotFoundError } from './errors';
import type { ResolvedSseResumeOptions } from './interfaces/sse-resume-options.interface';
import type {
  DefaultTaskEvents,
  EmitOptions,
  ProgressData,
  ResolvedTaskEvents,
  StartedTask,
  UnnamedEvent,
  StartTaskOptions,
  TaskEventMap,
  TaskSource,
} from './interfaces/task-context.interface';
import type { TaskInfo } from './interfaces/task-info.interface';
import { isTerminalStatus, type TerminalStatus } from './interfaces/task-status.interface';
import { TaskStore } from './interfaces/task-store.interface';
import type { AuthorizedStream, StreamOptions, TaskAccess } from './interfaces/stream-options.interface';
import { hashResumeKey } from './access/resume-key';
import { TaskAccessChecker } from './access/task-access-checker';
import { TaskStreams } from './streams/task-streams';
import { TaskHub } from './streams/task-hub';
import { TaskRunner } from './tasks/task-runner';
import { GENERIC_FAILURE } from './tasks/task-serializer';
import { NOOP_METRICS, SSE_RESUME_METRICS, type SseResumeMetrics } from './metrics/sse-resume-metrics';
import { measureStore } from './metrics/measured-task-store';
import type { StartNamedTaskOptions } from './interfaces/durable-task.interface';
import { DurableTaskRuntime } from './durable/durable-task-runtime';

/** Shutdown grace of shared stores (see the `shutdownGraceMs` option). */
const DEFAULT_SHARED_SHUTDOWN_GRACE_MS = 5_000;

/** Arguments of {@link SseTaskService.executeWithSse} (`ExecuteWithSSE` of the Go library this one ports). */
export interface ExecuteRequest {
  /** Resume this task (found by its key when no `taskId` is given). Omitted = start a new task. */
  resumeKey?: string;
  taskId?: string;
  subscriberId?: string;
  lastEventId?: number;
}

export interface ExecuteResult extends StartedTask {
  /** The task's events for an `@Sse()` handler. */
  events$: Observable<MessageEvent>;
}

/**
 * Runs tasks detached from any request and streams their events to any number of
 * subscribers, who can drop and resume with `Last-Event-ID` without losing or repeating
 * an event. Inject it where tasks are started and streamed.
 *
 * A facade: tasks run in `TaskRunner`, access is decided by `TaskAccessChecker`, streams are
 * made by `TaskStreams` (internal classes); this class wires them and keeps the public API.
 */
@Injectable()
export class SseTaskService implements OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger(LOGGER_NAME);
  private readonly runner: TaskRunner;
  private readonly access: TaskAccessChecker;
  private readonly streams: TaskStreams;
  /** The store, timed when metrics are on (see measured-task-store.ts). */
  private readonly store: TaskStore;

  constructor(
    @Inject(TaskStore) store: TaskStore,
    @Inject(SSE_RESUME_RESOLVED_OPTIONS) private readonly options: ResolvedSseResumeOptions,
    @Optional() @Inject(SSE_RESUME_METRICS) private readonly metrics: SseResumeMetrics = NOOP_METRICS,
    @Optional() private readonly durable?: DurableTaskRuntime,
  ) {
    this.store = measureStore(store, metrics);
    const hub = new TaskHub(
      this.store,
      {
        heartbeatMs: options.heartbeatMs,
        maxSubscribersPerTask: options.maxSubscribersPerTask,
        maxStreams: options.maxStreams,
      },
      this.logger,
      metrics,
    );
    this.access = new TaskAccessChecker(this.store, options, hub);
    this.streams = new TaskStreams(this.store, options, hub, this.access, this.logger, metrics);
    this.runner = new TaskRunner(this.store, options, this.access, this.logger, metrics);
  }

  /** Identifies this instance as a task's owner in shared stores. */
  get instanceId(): string {
    return this.runner.instanceId;
  }

  async onModuleInit(): Promise<void> {
    if (this.store.shared && typeof this.store.onTaskEnded !== 'function') {
      throw new Error(SHARED_STORE_WITHOUT_ON_TASK_ENDED);
    }
    await this.store.init?.();
    // A task this instance runs may be ended elsewhere (cancelled on another instance,
    // failed by an orphan reaper): stop it here too.
    this.runner.listenForEnds();
  }

  /**
   * Starts the task type `name` (a `@TaskHandler(name)` provider) with a JSON `input`: in
   * this process, or with `{ durable: true }` as a BullMQ job that any worker instance runs
   * and that survives the death of its worker (needs the `durable` module option). The
   * answer and the stream are the same either way. Throws `UnknownTaskHandlerError` (500)
   * for an unknown name, `InvalidTaskInputError` (400) for an input that is not JSON.
   */
  start<I = unknown>(name: string, input: I, options?: StartNamedTaskOptions): Promise<StartedTask>;
  /**
   * Starts a task and returns at once with its id and resume key; the task runs on,
   * detached from the caller. A function gets a `TaskContext`; an Observable or
   * AsyncIterable has each value emitted as a `progress` event.
   *
   * `E` types the events (`start<ExportEvents>(async ({ emit }) => ...)`: `emit(data)` takes
   * `ExportEvents['progress']`, `emit(data, { event: 'log' })` `ExportEvents['log']`), `R`
   * the result; without them any data goes.
   */
  start<E extends TaskEventMap = DefaultTaskEvents, R = unknown>(
    source: TaskSource<R, E>,
    options?: StartTaskOptions,
  ): Promise<StartedTask>;
  // (last: Parameters<SseTaskService['start']> reads the last overload)
  start(
    sourceOrName: TaskSource | string,
    inputOrOptions?: unknown,
    options: StartNamedTaskOptions = {},
  ): Promise<StartedTask> {
    if (typeof sourceOrName === 'string') {
      if (!this.durable) throw new Error('SseTaskService: named tasks need SseResumeModule');
      return this.durable.start(sourceOrName, inputOrOptions, options, (source, local) =>
        this.runner.start(source, local),
      );
    }
    return this.runner.start(sourceOrName, (inputOrOptions as StartTaskOptions | undefined) ?? {});
  }

  /**
   * The events of a task as an Observable for an `@Sse()` handler: the missed events after
   * `lastEventId` (or a `gap` event when history no longer reaches back), then live ones,
   * then one `end` event, then completion. Access and the resume point are checked on
   * subscription; failures are typed errors (404, 403, 410, 400, 204) raised before the
   * first message. Use `@SseResume()` on the handler for exact statuses with any store and
   * for the fast writer.
   */
  stream(taskId: string, options: StreamOptions): Observable<MessageEvent> {
    return this.streams.stream(taskId, options);
  }

  /**
   * `ExecuteWithSSE` of the Go library this one ports: without a resume key it starts
   * `source` as a new task; with one it resumes that task's stream and never starts another.
   */
  async executeWithSse<E extends TaskEventMap = DefaultTaskEvents, R = unknown>(
    request: ExecuteRequest,
    source: TaskSource<R, E>,
    options: StartTaskOptions = {},
  ): Promise<ExecuteResult> {
    const streamOptions = (resumeKey: string): StreamOptions => ({
      resumeKey,
      lastEventId: request.lastEventId,
      subscriberId: request.subscriberId,
    });
    if (request.resumeKey === undefined) {
      const started = await this.start(source, options);
      return { ...started, events$: this.stream(started.taskId, streamOptions(started.resumeKey)) };
    }
    const taskId = request.taskId ?? (await this.store.findTaskIdByKeyHash(hashResumeKey(request.resumeKey)));
    if (taskId === undefined) throw new TaskNotFoundError('(for this resume key)');
    await this.authorizeStream(taskId, { resumeKey: request.resumeKey, lastEventId: request.lastEventId });
    return {
      taskId,
      resumeKey: request.resumeKey,
      events$: this.stream(taskId, streamOptions(request.resumeKey)),
    };
  }

  /**
   * Checks that a stream can open: the task exists and has not expired, the key matches,
   * and the resume point is an event of the task that is not its last. Throws the typed
   * error otherwise (`ResumePointAtEndError` = 204: nothing left to send).
   */
  authorizeStream(taskId: string, options: StreamOptions, request?: unknown): Promise<AuthorizedStream> {
    return this.access.authorizeStream(taskId, options, request);
  }

  /**
   * Checks a request's access to a task: the resume key, then the `authorize` option if
   * set. Used by the guards of `@SseResume()` and `@TaskAccess()`; call it yourself in
   * handlers that take a task id from elsewhere. Throws the typed errors (404, 403, 410).
   */
  authorizeRequest(request: unknown, taskId: string, resumeKey: string | undefined): Promise<TaskInfo> {
    return this.access.authorizeRequest(request, taskId, resumeKey);
  }

  /**
   * `UpdateProgress` of the Go library: emits a `progress` (or named) event on a running
   * task. `updateProgress<ExportEvents>(id, data)` types `data` as `ExportEvents['progress']`.
   */
  updateProgress<E extends TaskEventMap = DefaultTaskEvents>(
    taskId: string,
    data: ProgressData<E>,
    options?: EmitOptions<UnnamedEvent<E>>,
  ): Promise<number>;
  /** A named event: `updateProgress<ExportEvents, 'log'>(id, { line }, { event: 'log' })`. */
  updateProgress<
    E extends TaskEventMap = DefaultTaskEvents,
    K extends keyof ResolvedTaskEvents<E> & string = keyof ResolvedTaskEvents<E> & string,
  >(taskId: string, data: ResolvedTaskEvents<E>[K], options: EmitOptions<K> & { event: K }): Promise<number>;
  updateProgress(taskId: string, data: unknown, options: EmitOptions = {}): Promise<number> {
    return this.runner.updateProgress(taskId, data, options);
  }

  /** Ends a running task as `completed`; `result` goes into the `end` event. Aborts its signal. */
  async complete(taskId: string, result?: unknown): Promise<void> {
    await this.runner.end(
      taskId,
      { status: 'completed', result },
      new TaskAbortedError('ended', 'Task completed'),
    );
    this.durable?.taskEnded(taskId, 'completed');
  }

  /** Ends a running task as `failed` with a public error message. Aborts its signal. */
  async fail(taskId: string, error: string | Error): Promise<void> {
    const message = typeof error === 'string' ? error : error.message;
    await this.runner.end(
      taskId,
      { status: 'failed', error: message },
      new TaskAbortedError('ended', message),
    );
    this.durable?.taskEnded(taskId, 'failed');
  }

  /**
   * Cancels a running task: aborts its signal and ends every stream with `end` status
   * `cancelled`. With `access`, the resume key is checked first (403 when wrong).
   */
  async cancel(taskId: string, reason?: string, access?: TaskAccess): Promise<void> {
    if (access) await this.access.requireTask(taskId, access);
    const message = reason ?? 'Task cancelled';
    await this.runner.end(
      taskId,
      { status: 'cancelled', error: message },
      new TaskAbortedError('cancelled', message),
    );
    // A durable task's attempt in this process stops now (other instances hear it from the store).
    this.durable?.taskEnded(taskId, 'cancelled');
  }

  /** `CompleteTask(taskID, status)` of the Go library. */
  async completeTask(taskId: string, status: TerminalStatus): Promise<void> {
    if (!isTerminalStatus(status)) {
      throw new RangeError(`status must be completed, failed or cancelled, got ${String(status)}`);
    }
    if (status === 'completed') return this.complete(taskId);
    if (status === 'cancelled') return this.cancel(taskId);
    return this.fail(taskId, GENERIC_FAILURE);
  }

  /**
   * `GetTaskInfo` of the Go library. Without `access` it trusts the caller (server-side
   * use); with it, the resume key must match (403), as for a client request.
   */
  async getTaskInfo(taskId: string, access?: TaskAccess): Promise<TaskInfo> {
    return this.access.toInfo(await this.access.requireTask(taskId, access));
  }

  /** Runs the eviction now (the scheduled job calls this). Returns how many tasks expired. */
  async evictExpired(): Promise<number> {
    const evicted = await this.store.evictExpired(Date.now());
    this.metrics.evictionRun(evicted);
    return evicted;
  }

  /** Tasks running in this process and open streams, for metrics and tests. */
  get stats(): { runningTasks: number; openStreams: number } {
    return { runningTasks: this.runner.size, openStreams: this.streams.count };
  }

  /** Ends open streams (clients reconnect, elsewhere if there is an elsewhere) and stops tasks. */
  async beforeApplicationShutdown(): Promise<void> {
    this.streams.endAll();
    const grace = this.options.shutdownGraceMs ?? (this.store.shared ? DEFAULT_SHARED_SHUTDOWN_GRACE_MS : 0);
    await this.runner.shutDown(grace);
    this.streams.endForGood(); // and the streams opened during the grace period
    await this.runner.failAll();
  }

  async onApplicationShutdown(): Promise<void> {
    this.runner.stopListeningForEnds();
    this.streams.stop();
    if (typeof this.options.store !== 'object') await this.store.close();
  }
}
