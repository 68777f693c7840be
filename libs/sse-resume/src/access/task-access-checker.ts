import {
  InvalidResumePointError,
  ResumeKeyInvalidError,
  ResumePointAtEndError,
  StoreUnavailableError,
  TaskAccessDeniedError,
  TaskExpiredError,
  TaskNotFoundError,
  TaskNotRunningError,
  TooManySubscribersError,
  TooManyStreamsError,
} from '../errors';
import type { ResolvedSseResumeOptions } from '../interfaces/sse-resume-options.interface';
import type { TaskInfo } from '../interfaces/task-info.interface';
import type { TaskRecord, TaskStore } from '../interfaces/task-store.interface';
import type { AuthorizedStream, StreamOptions, TaskAccess } from '../interfaces/stream-options.interface';
import { rememberAuthorizedStream } from '../streams/stream-request';
import { resumeKeyMatches } from './resume-key';

/** Who is subscribed to which task on this instance (the hub). */
export interface SubscriberDirectory {
  subscriberCount(taskId: string): number;
  /** Open streams on this instance, all tasks together. */
  readonly subscriptionCount: number;
  subscribersOf(taskId: string): readonly { readonly subscriberId: string }[];
}

/** Longest task id looked up in the store (ids are UUIDs: 36 characters). */
const MAX_TASK_ID_CHARS = 128;

/**
 * Decides who may do what with a task: that it exists and has not expired, that the
 * resume key matches (in constant time), the application's `authorize` hook, and that a
 * stream's resume point makes sense. Throws the typed errors (404, 403, 410, 400, 204, 429).
 */
export class TaskAccessChecker {
  constructor(
    private readonly store: TaskStore,
    private readonly options: ResolvedSseResumeOptions,
    private readonly subscribers: SubscriberDirectory,
  ) {}

  /**
   * Checks that a stream can open: the task exists and has not expired, the key matches,
   * and the resume point is an event of the task that is not its last. With `request`
   * (from a guard), also the `authorize` hook, and the result is left on the request for
   * the stream that follows.
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
    if (resumePoint > task.lastEventId && this.store.shared && task.status === 'running') {
      // A shared store behind an id it gave out: a Redis failover lost acknowledged writes.
      // The owner repairs that (those ids are never reused) within one lease renewal.
      throw new StoreUnavailableError(
        `task ${taskId} has events up to ${task.lastEventId} only, behind the resume point ${resumePoint} (a Redis failover); retry shortly`,
        undefined,
        1,
      );
    }
    if (resumePoint > task.lastEventId) {
      throw new InvalidResumePointError(
        `event ${resumePoint} does not exist (the task's last event is ${task.lastEventId})`,
      );
    }
    // Checked here too (the hub checks again on join), so that the guard answers 429/503 before the head.
    if (this.subscribers.subscriptionCount >= this.options.maxStreams) {
      throw new TooManyStreamsError(this.options.maxStreams);
    }
    if (this.subscribers.subscriberCount(taskId) >= this.options.maxSubscribersPerTask) {
      throw new TooManySubscribersError(taskId, this.options.maxSubscribersPerTask);
    }
    const result = { task, resumePoint };
    // For the stream that follows the guard: it reads the result from the request.
    if (request !== undefined) rememberAuthorizedStream(request, taskId, options, result);
    return result;
  }

  /** Checks a request's access to a task: the resume key, then the `authorize` hook. */
  async authorizeRequest(request: unknown, taskId: string, resumeKey: string | undefined): Promise<TaskInfo> {
    const task = await this.requireTask(taskId, { resumeKey });
    await this.runAuthorizeHook(request, task);
    return this.toInfo(task);
  }

  /** The task, if it exists and has not expired; with `access`, only if the key matches. */
  async requireTask(taskId: string, access?: TaskAccess): Promise<TaskRecord> {
    // No task has such an id: answer without a store round trip (or a key built from it).
    if (taskId.length > MAX_TASK_ID_CHARS) throw new TaskNotFoundError(taskId);
    const lookup = await this.store.lookup(taskId);
    if (lookup.state === 'missing') throw new TaskNotFoundError(taskId);
    const keyHash = lookup.state === 'found' ? lookup.task.keyHash : lookup.keyHash;
    if (access && !resumeKeyMatches(access.resumeKey, keyHash)) throw new ResumeKeyInvalidError(taskId);
    if (lookup.state === 'expired') throw new TaskExpiredError(taskId);
    return lookup.task;
  }

  async requireRunning(taskId: string): Promise<TaskRecord> {
    const task = await this.requireTask(taskId);
    if (task.status !== 'running') throw new TaskNotRunningError(taskId, task.status);
    return task;
  }

  toInfo(task: TaskRecord): TaskInfo {
    const subscribers = this.subscribers.subscribersOf(task.taskId);
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
      ...(task.durable === true && { attempt: task.attempt ?? 0 }),
    };
  }

  private async runAuthorizeHook(request: unknown, task: TaskRecord): Promise<void> {
    const authorize = this.options.authorize;
    if (authorize && !(await authorize(request, this.toInfo(task))))
      throw new TaskAccessDeniedError(task.taskId);
  }
}
