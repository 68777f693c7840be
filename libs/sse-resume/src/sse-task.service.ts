import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  MessageEvent,
  OnApplicationShutdown,
  OnModuleInit,
} from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { isObservable, Observable, type Subscription } from 'rxjs';
import { DEFAULT_REPLAY_CHUNK, PROGRESS_EVENT, RESERVED_EVENTS } from './sse-resume.constants';
import { SSE_RESUME_OPTIONS } from './sse-resume.module-definition';
import {
  InvalidEventError,
  InvalidResumePointError,
  ResumeKeyInvalidError,
  ResumePointAtEndError,
  SseResumeError,
  StoreUnavailableError,
  TaskAccessDeniedError,
  TaskError,
  TaskExpiredError,
  TaskNotFoundError,
  TaskNotRunningError,
  TaskOverloadedError,
  TooManySubscribersError,
} from './errors';
import type { ResolvedSseResumeOptions } from './interfaces/sse-resume-options.interface';
import type {
  EmitOptions,
  StartedTask,
  StartTaskOptions,
  TaskContext,
  TaskFunction,
  TaskSource,
} from './interfaces/task-context.interface';
import type { TaskInfo } from './interfaces/task-info.interface';
import { isTerminalStatus, type TerminalStatus } from './interfaces/task-status.interface';
import { TaskStore, type TaskRecord, type TaskTermination } from './interfaces/task-store.interface';
import type { StreamOptions, TaskAccess } from './interfaces/stream-options.interface';
import { generateResumeKey, generateTaskId, hashResumeKey, resumeKeyMatches } from './resume-key';
import { TaskHub } from './task-hub';
import { type SubscriptionContext, TaskSubscription } from './task-subscription';

/** A task running in this process. */
interface LocalTask {
  readonly taskId: string;
  readonly controller: AbortController;
  timer: NodeJS.Timeout | undefined;
  /** Set the moment the task ends, before the store is told, so later emits are refused. */
  endedAs: TerminalStatus | undefined;
  /** Characters emitted whose append the store has not confirmed yet (bounded by `maxUnstoredBytes`). */
  unstored: number;
  /** Characters emitted in this turn of the event loop (bounded by `emitBytesPerTurn`). */
  turnBytes: number;
  /** Resolves when this turn ends (a `setImmediate` armed at the turn's first emit). */
  turnEnd: Promise<void> | undefined;
}

/** How a task ends, before it is serialized into the `end` event. */
interface Outcome {
  status: TerminalStatus;
  result?: unknown;
  error?: string;
}

/** Arguments of {@link SseTaskService.executeWithSse}, the Go library's `ExecuteWithSSE`. */
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

/** What `authorizeStream` resolves to: the task as read, and where the stream resumes. */
export interface AuthorizedStream {
  task: TaskRecord;
  resumePoint: number;
}

/** Reason a task's signal is aborted with; `reason.code` tells why. */
export class TaskAbortedError extends Error {
  constructor(
    readonly code: 'cancelled' | 'timeout' | 'ended' | 'shutdown',
    message: string,
  ) {
    super(message);
    this.name = 'TaskAbortedError';
  }
}

const GENERIC_FAILURE = 'Task failed';
/** Shutdown grace of shared stores (see the `shutdownGraceMs` option). */
const DEFAULT_SHARED_SHUTDOWN_GRACE_MS = 5_000;
/** Largest `metadata`, as JSON. */
const MAX_METADATA_CHARS = 4096;
const EVENT_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
/** Longest task id looked up in the store (ids are UUIDs: 36 characters). */
const MAX_TASK_ID_CHARS = 128;
/** How long a guard's check stays usable by the stream it precedes, and how many are kept. */
const HANDOFF_MS = 5_000;
const MAX_HANDOFFS = 1_024;
/** Replay writes of at most this many characters before waiting for the socket. */
const REPLAY_WRITE_CHARS = 256 * 1024;

/**
 * An end that could not be stored is retried this often until it is (or the app shuts down):
 * given up, it would leave the task `running` in a shared store, its lease renewed for good.
 * The failure is logged once per this many attempts.
 */
const END_RETRY_MS = 1_000;
const END_RETRY_LOG_EVERY = 60;

function noop(): void {}

/**
 * Runs tasks detached from any request and streams their events to any number of
 * subscribers, who can drop and resume with `Last-Event-ID` without losing or repeating
 * an event. Inject it where tasks are started and streamed.
 */
@Injectable()
export class SseTaskService implements OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('SseResume');
  private readonly running = new Map<string, LocalTask>();
  private readonly hub: TaskHub;
  /** One context shared by every subscription (no closures per stream). */
  private readonly subscriptionContext: SubscriptionContext;
  /** Identifies this instance as a task's owner in shared stores. */
  readonly instanceId = randomUUID();
  private shuttingDown = false;
  /** Shutdown ended every stream for the last time: streams joining later end at once. */
  private streamsEnded = false;
  private stopListening: (() => void) | undefined;

  constructor(
    @Inject(TaskStore) private readonly store: TaskStore,
    @Inject(SSE_RESUME_OPTIONS) private readonly options: ResolvedSseResumeOptions,
  ) {
    this.hub = new TaskHub(
      store,
      { heartbeatMs: options.heartbeatMs, maxSubscribersPerTask: options.maxSubscribersPerTask },
      this.logger,
    );
    this.subscriptionContext = {
      store: this.store,
      logger: this.logger,
      retryMs: this.options.retryMs,
      replayChunk: this.store.replayChunk ?? DEFAULT_REPLAY_CHUNK,
      replayWriteChars: Math.min(REPLAY_WRITE_CHARS, Math.max(1024, this.options.maxPendingBytes >> 1)),
      maxPendingLiveBytes: this.options.maxPendingBytes,
      authorize: (subscription) => {
        const options = subscription.options ?? { resumeKey: undefined };
        return (
          this.takeHandoff(subscription.taskId, options) ?? this.authorizeStream(subscription.taskId, options)
        );
      },
      join: async (subscription) => {
        const leave = await this.hub.join(subscription);
        // Past the shutdown's last endAll() nothing else would end it (and it holds the HTTP server open).
        if (this.streamsEnded) subscription.end();
        return leave;
      },
    };
  }

  async onModuleInit(): Promise<void> {
    await this.store.init?.();
    // A task this instance runs may be ended elsewhere (cancelled on another instance,
    // failed by an orphan reaper): stop it here too.
    this.stopListening = this.store.onTaskEnded?.((taskId, status) => {
      const task = this.running.get(taskId);
      if (task) this.stopEndedElsewhere(task, status);
    });
  }

  /** Stops a local task whose end was stored by another path (nothing to store here). */
  private stopEndedElsewhere(task: LocalTask, status: TerminalStatus): void {
    if (task.endedAs !== undefined) return;
    task.endedAs = status;
    if (task.timer) clearTimeout(task.timer);
    this.running.delete(task.taskId);
    task.controller.abort(
      new TaskAbortedError(status === 'cancelled' ? 'cancelled' : 'ended', `Task ${status} elsewhere`),
    );
  }

  /**
   * Starts a task and returns at once with its id and resume key; the task runs on,
   * detached from the caller. A function gets a {@link TaskContext}; an Observable or
   * AsyncIterable has each value emitted as a `progress` event.
   */
  async start<R>(source: TaskSource<R>, options: StartTaskOptions = {}): Promise<StartedTask> {
    const timeoutMs = options.timeoutMs ?? this.options.defaultTimeoutMs;
    // setTimeout fires at once (after 1 ms) for delays above 2^31 - 1.
    if (
      timeoutMs !== undefined &&
      (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 2_147_483_647)
    ) {
      throw new RangeError(`timeoutMs must be an integer from 1 to 2147483647, got ${String(timeoutMs)}`);
    }
    if (this.shuttingDown) throw new StoreUnavailableError('the server is shutting down');
    const metadata = checkMetadata(options.metadata);
    const taskId = generateTaskId();
    const resumeKey = generateResumeKey();
    await this.store.create({
      taskId,
      keyHash: hashResumeKey(resumeKey),
      createdAt: Date.now(),
      ownerId: this.instanceId,
      ...(metadata && { metadata }),
    });
    const task: LocalTask = {
      taskId,
      controller: new AbortController(),
      timer: undefined,
      endedAs: undefined,
      unstored: 0,
      turnBytes: 0,
      turnEnd: undefined,
    };
    this.running.set(taskId, task);
    if (timeoutMs !== undefined) {
      task.timer = setTimeout(() => {
        void this.endLocal(
          task,
          { status: 'failed', error: `Task timed out after ${timeoutMs} ms` },
          new TaskAbortedError('timeout', `Task timed out after ${timeoutMs} ms`),
        );
      }, timeoutMs);
    }
    void this.run(task, source);
    return { taskId, resumeKey };
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
    return new Observable<MessageEvent>((rx) => {
      const subscription = new TaskSubscription(
        taskId,
        options.subscriberId,
        this.subscriptionContext,
        rx,
        options,
      );
      void subscription.start();
      return () => subscription.close();
    });
  }

  /**
   * The guard of `@SseResume()` has just checked this very stream (same task, key and
   * resume point): hand its result to the subscription instead of checking twice.
   */
  private readonly handoffs = new Map<string, { expires: number; result: AuthorizedStream }>();

  private handoffKey(taskId: string, options: StreamOptions): string {
    return `${taskId}\n${options.resumeKey ?? ''}\n${options.lastEventId ?? ''}`;
  }

  private takeHandoff(taskId: string, options: StreamOptions): Promise<AuthorizedStream> | undefined {
    if (this.handoffs.size === 0) return undefined;
    const key = this.handoffKey(taskId, options);
    const handoff = this.handoffs.get(key);
    if (!handoff) return undefined;
    this.handoffs.delete(key);
    return handoff.expires > Date.now() ? Promise.resolve(handoff.result) : undefined;
  }

  private leaveHandoff(taskId: string, options: StreamOptions, result: AuthorizedStream): void {
    const now = Date.now();
    // Oldest first (insertion order): drop the expired ones, so none lingers with its key.
    for (const [key, handoff] of this.handoffs) {
      if (handoff.expires > now) break;
      this.handoffs.delete(key);
    }
    if (this.handoffs.size >= MAX_HANDOFFS) return;
    this.handoffs.set(this.handoffKey(taskId, options), { expires: now + HANDOFF_MS, result });
  }

  /**
   * The Go library's `ExecuteWithSSE`: without a resume key it starts `source` as a new
   * task; with one it resumes that task's stream and never starts another.
   */
  async executeWithSse<R>(
    request: ExecuteRequest,
    source: TaskSource<R>,
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
  async authorizeStream(
    taskId: string,
    options: StreamOptions,
    request?: unknown,
  ): Promise<AuthorizedStream> {
    const resumePoint = options.lastEventId ?? 0;
    if (!Number.isSafeInteger(resumePoint) || resumePoint < 0) {
      throw new InvalidResumePointError('lastEventId must be a non-negative integer');
    }
    const task = await this.requireTask(taskId, options);
    if (request !== undefined) await this.runAuthorizeHook(request, task);
    if (task.endEventId !== null && resumePoint >= task.endEventId) {
      throw new ResumePointAtEndError(taskId, task.endEventId);
    }
    if (resumePoint > task.lastEventId) {
      throw new InvalidResumePointError(
        `event ${resumePoint} does not exist (the task's last event is ${task.lastEventId})`,
      );
    }
    // Checked here too (the hub checks again on join), so that the guard answers 429 before the head.
    if (this.hub.subscriberCount(taskId) >= this.options.maxSubscribersPerTask) {
      throw new TooManySubscribersError(taskId, this.options.maxSubscribersPerTask);
    }
    const result = { task, resumePoint };
    if (request !== undefined) this.leaveHandoff(taskId, options, result);
    return result;
  }

  /**
   * Checks a request's access to a task: the resume key, then the `authorize` option if
   * set. Used by the guards of `@SseResume()` and `@TaskAccess()`; call it yourself in
   * handlers that take a task id from elsewhere. Throws the typed errors (404, 403, 410).
   */
  async authorizeRequest(request: unknown, taskId: string, resumeKey: string | undefined): Promise<TaskInfo> {
    const task = await this.requireTask(taskId, { resumeKey });
    await this.runAuthorizeHook(request, task);
    return this.toInfo(task);
  }

  /** The Go library's `UpdateProgress`: emits a `progress` (or named) event on a running task. */
  async updateProgress(taskId: string, data: unknown, options: EmitOptions = {}): Promise<number> {
    const local = this.running.get(taskId);
    if (local) return this.emit(local, data, options);
    const json = this.serialize(data, options.event);
    await this.requireRunning(taskId);
    return (await this.store.append(taskId, options.event ?? PROGRESS_EVENT, json)).seq;
  }

  /** Ends a running task as `completed`; `result` goes into the `end` event. Aborts its signal. */
  async complete(taskId: string, result?: unknown): Promise<void> {
    await this.endTask(
      taskId,
      { status: 'completed', result },
      new TaskAbortedError('ended', 'Task completed'),
    );
  }

  /** Ends a running task as `failed` with a public error message. Aborts its signal. */
  async fail(taskId: string, error: string | Error): Promise<void> {
    const message = typeof error === 'string' ? error : error.message;
    await this.endTask(taskId, { status: 'failed', error: message }, new TaskAbortedError('ended', message));
  }

  /**
   * Cancels a running task: aborts its signal and ends every stream with `end` status
   * `cancelled`. With `access`, the resume key is checked first (403 when wrong).
   */
  async cancel(taskId: string, reason?: string, access?: TaskAccess): Promise<void> {
    if (access) await this.requireTask(taskId, access);
    const message = reason ?? 'Task cancelled';
    await this.endTask(
      taskId,
      { status: 'cancelled', error: message },
      new TaskAbortedError('cancelled', message),
    );
  }

  /** The Go library's `CompleteTask(taskID, status)`. */
  async completeTask(taskId: string, status: TerminalStatus): Promise<void> {
    if (!isTerminalStatus(status)) {
      throw new RangeError(`status must be completed, failed or cancelled, got ${String(status)}`);
    }
    if (status === 'completed') return this.complete(taskId);
    if (status === 'cancelled') return this.cancel(taskId);
    return this.fail(taskId, GENERIC_FAILURE);
  }

  /**
   * The Go library's `GetTaskInfo`. Without `access` it trusts the caller (server-side
   * use); with it, the resume key must match (403), as for a client request.
   */
  async getTaskInfo(taskId: string, access?: TaskAccess): Promise<TaskInfo> {
    const task = access ? await this.requireTask(taskId, access) : await this.requireTask(taskId);
    return this.toInfo(task);
  }

  private toInfo(task: TaskRecord): TaskInfo {
    const subscribers = this.hub.subscribersOf(task.taskId);
    return {
      taskId: task.taskId,
      status: task.status,
      createdAt: new Date(task.createdAt).toISOString(),
      updatedAt: new Date(task.updatedAt).toISOString(),
      expiresAt: task.expiresAt === null ? null : new Date(task.expiresAt).toISOString(),
      lastEventId: task.lastEventId,
      subscribers: subscribers.length,
      subscriberIds: subscribers.map((s) => s.subscriberId),
      ...(task.error !== undefined && { error: task.error }),
      ...(task.metadata !== undefined && { metadata: { ...task.metadata } }),
    };
  }

  private async runAuthorizeHook(request: unknown, task: TaskRecord): Promise<void> {
    const authorize = this.options.authorize;
    if (authorize && !(await authorize(request, this.toInfo(task))))
      throw new TaskAccessDeniedError(task.taskId);
  }

  /** Runs the eviction now (the scheduled job calls this). Returns how many tasks expired. */
  async evictExpired(): Promise<number> {
    return this.store.evictExpired(Date.now());
  }

  /** Tasks running in this process and open streams, for metrics and tests. */
  get stats(): { runningTasks: number; openStreams: number } {
    return { runningTasks: this.running.size, openStreams: this.hub.subscriptionCount };
  }

  /** Ends open streams (clients reconnect, elsewhere if there is an elsewhere) and stops tasks. */
  async beforeApplicationShutdown(): Promise<void> {
    this.shuttingDown = true;
    this.hub.endAll();
    const grace =
      this.options.shutdownGraceMs ?? (this.store.kind === 'memory' ? 0 : DEFAULT_SHARED_SHUTDOWN_GRACE_MS);
    const deadline = Date.now() + grace;
    while (this.running.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(50, deadline - Date.now())));
    }
    this.streamsEnded = true;
    this.hub.endAll(); // streams opened during the grace period
    const ending = [...this.running.values()].map((task) =>
      this.endLocal(
        task,
        { status: 'failed', error: 'Server shut down before the task finished' },
        new TaskAbortedError('shutdown', 'Server shutting down'),
      ),
    );
    await Promise.all(ending);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopListening?.();
    this.hub.stop();
    if (typeof this.options.store !== 'object') await this.store.close();
  }

  private async run(task: LocalTask, source: TaskSource): Promise<void> {
    const context: TaskContext = {
      taskId: task.taskId,
      signal: task.controller.signal,
      emit: (data, options) => this.emit(task, data, options),
    };
    let result: unknown;
    try {
      // Not started synchronously: start() resolves first, whatever the task does.
      await Promise.resolve();
      if (isObservable(source)) result = await this.runObservable(context, source);
      else if (isAsyncIterable(source)) result = await this.runIterable(context, source);
      else result = await (source as TaskFunction)(context);
    } catch (err) {
      if (task.endedAs === undefined) {
        const message = publicMessage(err);
        if (!(err instanceof TaskError)) {
          this.logger.error(`task ${task.taskId} failed`, err instanceof Error ? err.stack : String(err));
        }
        await this.endLocal(task, { status: 'failed', error: message });
      }
      return;
    }
    if (task.endedAs === undefined) await this.endLocal(task, { status: 'completed', result });
  }

  private runObservable(context: TaskContext, source: Observable<unknown>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let failed = false;
      let subscription: Subscription | undefined = undefined;
      subscription = source.subscribe({
        next: (value) => {
          if (failed) return;
          try {
            void context.emit(value);
          } catch (err) {
            failed = true;
            subscription?.unsubscribe();
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        },
        error: (err: unknown) => reject(err instanceof Error ? err : new Error(String(err))),
        complete: () => resolve(),
      });
      const active = subscription;
      if (failed) active.unsubscribe();
      else {
        const stop = () => active.unsubscribe();
        context.signal.addEventListener('abort', stop, { once: true });
        active.add(() => context.signal.removeEventListener('abort', stop));
      }
    });
  }

  private async runIterable(context: TaskContext, source: AsyncIterable<unknown>): Promise<void> {
    for await (const value of source) {
      if (context.signal.aborted) break;
      await context.emit(value);
    }
  }

  /**
   * Stores an event of a local task. Backpressure: the promise resolves once the store has
   * the event and, past `emitBytesPerTurn` in this turn, only after the turn ends, so an
   * awaited loop cannot hold the event loop or outrun the store. Emits that are not awaited
   * cannot be paced: past `maxUnstoredBytes` waiting for the store, the task fails.
   */
  private emit(task: LocalTask, data: unknown, options: EmitOptions = {}): Promise<number> {
    if (task.endedAs !== undefined) throw new TaskNotRunningError(task.taskId, task.endedAs);
    const type = options.event ?? PROGRESS_EVENT;
    const json = this.serialize(data, options.event);
    const size = json.length + type.length;
    if (task.unstored + size > this.options.maxUnstoredBytes) {
      const overloaded = new TaskOverloadedError(task.taskId, this.options.maxUnstoredBytes);
      this.logger.error(overloaded.message);
      void this.endLocal(
        task,
        { status: 'failed', error: overloaded.message },
        new TaskAbortedError('ended', overloaded.message),
      );
      throw overloaded;
    }
    task.unstored += size;
    const turnEnd = this.countTurnBytes(task, size);
    const appended = this.store.append(task.taskId, type, json).then(
      (event) => {
        task.unstored -= size;
        return event.seq;
      },
      (err: unknown) => {
        task.unstored -= size;
        if (
          task.endedAs === undefined &&
          err instanceof TaskNotRunningError &&
          isTerminalStatus(err.taskStatus)
        ) {
          // Ended elsewhere (cancelled on another instance, failed by a reaper) before the news came.
          this.stopEndedElsewhere(task, err.taskStatus);
        }
        // An event that could not be stored must not vanish quietly: fail the task.
        if (task.endedAs === undefined) {
          this.logger.error(
            `task ${task.taskId}: an event could not be stored; failing the task`,
            err instanceof Error ? err.stack : String(err),
          );
          void this.endLocal(
            task,
            { status: 'failed', error: 'Task events could not be stored' },
            new TaskAbortedError('ended', 'Task events could not be stored'),
          );
        }
        throw err;
      },
    );
    const paced = turnEnd ? appended.then((seq) => turnEnd.then(() => seq)) : appended;
    paced.catch(noop); // safe to leave un-awaited
    return paced;
  }

  /**
   * Adds an emit to the task's bytes of this turn; returns the turn's end once they pass
   * `emitBytesPerTurn` (the emit then resolves only after other work had its turn).
   */
  private countTurnBytes(task: LocalTask, size: number): Promise<void> | undefined {
    if (task.turnEnd === undefined) {
      task.turnEnd = new Promise<void>((resolve) =>
        setImmediate(() => {
          task.turnBytes = 0;
          task.turnEnd = undefined;
          resolve();
        }),
      );
    }
    task.turnBytes += size;
    return task.turnBytes > this.options.emitBytesPerTurn ? task.turnEnd : undefined;
  }

  private serialize(data: unknown, event: string | undefined): string {
    if (event !== undefined) {
      if (typeof event !== 'string' || !EVENT_NAME.test(event)) {
        throw new InvalidEventError('event names are 1-64 characters of A-Z a-z 0-9 _ . : -');
      }
      if (RESERVED_EVENTS.has(event)) throw new InvalidEventError(`the event name "${event}" is reserved`);
    }
    let json: string | undefined;
    try {
      json = JSON.stringify(data === undefined ? null : data);
    } catch (err) {
      throw new InvalidEventError(
        `data is not JSON-serializable (${err instanceof Error ? err.message : String(err)})`,
      );
    }
    json ??= 'null';
    const max = this.options.maxEventBytes;
    if (json.length > max / 3 && Buffer.byteLength(json) > max) {
      throw new InvalidEventError(
        `data is ${Buffer.byteLength(json)} bytes, more than maxEventBytes (${max})`,
      );
    }
    return json;
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
    if (abortReason) task.controller.abort(abortReason);
    await this.storeEnd(task.taskId, this.termination(outcome), outcome.status);
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
            `task ${taskId}: its end (${status}) could not be stored${retry ? `; retrying (attempt ${attempt})` : ''}`,
            err instanceof Error ? err.message : String(err),
          );
        }
        if (!retry) return;
        await new Promise((resolve) => setTimeout(resolve, END_RETRY_MS).unref());
      }
    }
  }

  private async endTask(taskId: string, outcome: Outcome, abortReason: TaskAbortedError): Promise<void> {
    const local = this.running.get(taskId);
    if (local && (await this.endLocal(local, outcome, abortReason))) return;
    // Not running here: a task of a shared store run by another instance, or an ended one.
    await this.requireRunning(taskId);
    if ((await this.store.finish(taskId, this.termination(outcome))) === undefined) {
      const lookup = await this.store.lookup(taskId);
      throw new TaskNotRunningError(taskId, lookup.state === 'found' ? lookup.task.status : 'expired');
    }
  }

  private termination(outcome: Outcome): TaskTermination {
    const end: { status: TerminalStatus; result?: unknown; error?: string } = { status: outcome.status };
    if (outcome.result !== undefined) end.result = outcome.result;
    if (outcome.error !== undefined) end.error = outcome.error;
    try {
      return { status: outcome.status, data: JSON.stringify(end), error: outcome.error };
    } catch {
      const error = 'Task result is not JSON-serializable';
      this.logger.error(`a task's result could not be serialized; the task is marked failed`);
      return { status: 'failed', data: JSON.stringify({ status: 'failed', error }), error };
    }
  }

  private async requireTask(taskId: string, access?: TaskAccess): Promise<TaskRecord> {
    // No task has such an id: answer without a store round trip (or a key built from it).
    if (taskId.length > MAX_TASK_ID_CHARS) throw new TaskNotFoundError(taskId);
    const lookup = await this.store.lookup(taskId);
    if (lookup.state === 'missing') throw new TaskNotFoundError(taskId);
    const keyHash = lookup.state === 'found' ? lookup.task.keyHash : lookup.keyHash;
    if (access && !resumeKeyMatches(access.resumeKey, keyHash)) throw new ResumeKeyInvalidError(taskId);
    if (lookup.state === 'expired') throw new TaskExpiredError(taskId);
    return lookup.task;
  }

  private async requireRunning(taskId: string): Promise<TaskRecord> {
    const task = await this.requireTask(taskId);
    if (task.status !== 'running') throw new TaskNotRunningError(taskId, task.status);
    return task;
  }
}

function checkMetadata(metadata: unknown): Record<string, string> | undefined {
  if (metadata === undefined) return undefined;
  if (
    typeof metadata !== 'object' ||
    metadata === null ||
    Array.isArray(metadata) ||
    !Object.values(metadata).every((value) => typeof value === 'string')
  ) {
    throw new TypeError('metadata must be an object of strings');
  }
  if (JSON.stringify(metadata).length > MAX_METADATA_CHARS) {
    throw new RangeError(`metadata must be at most ${MAX_METADATA_CHARS} characters as JSON`);
  }
  return { ...(metadata as Record<string, string>) };
}

function publicMessage(err: unknown): string {
  if (err instanceof TaskError || err instanceof SseResumeError) return err.message;
  return GENERIC_FAILURE;
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator] === 'function'
  );
}
