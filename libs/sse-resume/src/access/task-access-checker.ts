import {
  InvalidResumePointError,
  ResumeKeyInvalidError,
  ResumePointAtEndError,
  TaskAccessDeniedError,
  TaskExpiredError,
  TaskNotFoundError,
  TaskNotRunningError,
  TooManySubscribersError,
} from '../errors';
import type { ResolvedSseResumeOptions } from '../interfaces/sse-resume-options.interface';
import type { TaskInfo } from '../interfaces/task-info.interface';
import type { TaskRecord, TaskStore } from '../interfaces/task-store.interface';
import type { StreamOptions, TaskAccess } from '../interfaces/stream-options.interface';
import { resumeKeyMatches } from './resume-key';

/** What `authorizeStream` resolves to: the task as read, and where the stream resumes. */
export interface AuthorizedStream {
  task: TaskRecord;
  resumePoint: number;
}

/** Who is subscribed to which task on this instance (the hub). */
export interface SubscriberDirectory {
  subscriberCount(taskId: string): number;
  subscribersOf(taskId: string): readonly { readonly subscriberId: string }[];
}

/** Longest task id looked up in the store (ids are UUIDs: 36 characters). */
const MAX_TASK_ID_CHARS = 128;
/** How long a guard's check stays usable by the stream it precedes, and how many are kept. */
const HANDOFF_MS = 5_000;
const MAX_HANDOFFS = 1_024;

/**
 * Decides who may do what with a task: that it exists and has not expired, that the
 * resume key matches (in constant time), the application's `authorize` hook, and that a
 * stream's resume point makes sense. Throws the typed errors (404, 403, 410, 400, 204, 429).
 */
export class TaskAccessChecker {
  /**
   * The guard of `@SseResume()` has just checked this very stream (same task, key and
   * resume point): its result is handed to the subscription instead of checking twice.
   */
  private readonly handoffs = new Map<string, { expires: number; result: AuthorizedStream }>();

  constructor(
    private readonly store: TaskStore,
    private readonly options: ResolvedSseResumeOptions,
    private readonly subscribers: SubscriberDirectory,
  ) {}

  /**
   * Checks that a stream can open: the task exists and has not expired, the key matches,
   * and the resume point is an event of the task that is not its last. With `request`
   * (from a guard), also the `authorize` hook, and the result is kept for the stream.
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
    if (this.subscribers.subscriberCount(taskId) >= this.options.maxSubscribersPerTask) {
      throw new TooManySubscribersError(taskId, this.options.maxSubscribersPerTask);
    }
    const result = { task, resumePoint };
    if (request !== undefined) this.leaveHandoff(taskId, options, result);
    return result;
  }

  /** What a guard found for this very stream, if it is fresh, else a new check. */
  authorizeSubscription(taskId: string, options: StreamOptions): Promise<AuthorizedStream> {
    return this.takeHandoff(taskId, options) ?? this.authorizeStream(taskId, options);
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
    };
  }

  private async runAuthorizeHook(request: unknown, task: TaskRecord): Promise<void> {
    const authorize = this.options.authorize;
    if (authorize && !(await authorize(request, this.toInfo(task))))
      throw new TaskAccessDeniedError(task.taskId);
  }

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
}
