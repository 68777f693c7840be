import type { LoggerService } from '@nestjs/common';
import type { Job } from 'bullmq';
import {
  TaskAbortedError,
  TaskError,
  TaskFencedError,
  TaskNotFoundError,
  TaskNotRunningError,
} from '../errors';
import type { TerminalStatus } from '../interfaces/task-status.interface';
import type { TaskClaim, TaskStore } from '../interfaces/task-store.interface';
import { errorStack, errorText, logRecord } from '../log-record';
import { type Outcome, publicMessage, type TaskSerializer } from '../tasks/task-serializer';
import type { BullMq } from './bullmq-loader';
import { type AttemptSettings, DurableAttempt } from './durable-attempt';
import type { DurableJobData } from './durable-job-data';
import { RETRY_EVENT, WORKER_LOST_REASON, WORKER_SHUT_DOWN_REASON } from './durable.constants';
import type { TaskHandlerRegistry } from './task-handler-registry';

/** setTimeout fires at once (after 1 ms) for delays above this. */
const MAX_TIMEOUT_MS = 2_147_483_647;

/** The handler's outcome, or nothing when the attempt ended first. */
type Settled = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * Runs durable tasks' jobs in this worker: claims the task for the attempt, marks a
 * retry, runs the handler with its context, and ends the attempt one way (task completed,
 * retry after a throw, final failure, hand-over on shutdown, fenced, timed out). Keeps the
 * attempts running here, so that ends from anywhere, lost locks and shutdown reach them.
 */
export class DurableJobProcessor {
  private readonly attempts = new Map<string, DurableAttempt>();
  private shuttingDown = false;

  constructor(
    private readonly bullmq: BullMq,
    private readonly store: TaskStore,
    private readonly registry: TaskHandlerRegistry,
    private readonly serializer: TaskSerializer,
    private readonly settings: AttemptSettings,
    /** This instance as the owner of claimed tasks. */
    private readonly instanceId: string,
    private readonly logger: LoggerService,
  ) {}

  /** Attempts running in this process. */
  get size(): number {
    return this.attempts.size;
  }

  /** BullMQ's processor: `new Worker(queue, (job, token) => processor.process(job, token))`. */
  async process(job: Job<DurableJobData>, token: string | undefined): Promise<void> {
    const { taskId } = job.data;
    if (this.shuttingDown) return this.handBack(job, token);
    const handler = this.registry.find(job.name);
    if (!handler) {
      const message = `no task handler named "${job.name}" in this worker`;
      await this.finish(taskId, { status: 'failed', error: message });
      throw new this.bullmq.UnrecoverableError(message);
    }
    let claim: TaskClaim;
    try {
      claim = await this.store.claim!(taskId, this.instanceId);
    } catch (err) {
      // Ended (cancelled while queued) or gone (expired): nothing left to run.
      if (err instanceof TaskNotRunningError || err instanceof TaskNotFoundError) return;
      throw err;
    }
    // An earlier attempt of this task still running here is over (layer two of fencing).
    this.attempts
      .get(taskId)
      ?.end('fenced', new TaskAbortedError('fenced', new TaskFencedError(taskId).message));
    const attempt = new DurableAttempt(
      taskId,
      claim.attempt,
      claim.checkpoint && (JSON.parse(claim.checkpoint.state) as unknown),
      this.store,
      this.serializer,
      this.settings,
    );
    this.attempts.set(taskId, attempt);
    // Says which process runs which attempt (operators, and the multi-process e2e tests).
    this.logger.log(logRecord('durable attempt started', { taskId, attempt: claim.attempt }));
    let timer: NodeJS.Timeout | undefined;
    try {
      const { deadline, timeoutMs } = job.data;
      if (deadline !== undefined) {
        const timeOut = () => this.timeOut(attempt, timeoutMs ?? 0);
        timer = setTimeout(timeOut, Math.min(Math.max(deadline - Date.now(), 0), MAX_TIMEOUT_MS));
      }
      if (claim.attempt >= 2) await this.markRetry(attempt, claim);
      const settled = await this.run(attempt, job.name, job.data.input);
      await this.conclude(attempt, settled, job, token);
    } finally {
      clearTimeout(timer);
      if (this.attempts.get(taskId) === attempt) this.attempts.delete(taskId);
    }
  }

  /** A task ended (here or on any instance): its attempt here stops. */
  taskEnded(taskId: string, status: TerminalStatus): void {
    const code = status === 'cancelled' ? 'cancelled' : 'ended';
    this.attempts.get(taskId)?.end('ended', new TaskAbortedError(code, `Task ${status}`), status);
  }

  /** BullMQ could not renew these jobs' locks (job id = task id): their attempts are fenced. */
  locksLost(jobIds: readonly string[]): void {
    for (const jobId of jobIds) {
      this.attempts.get(jobId)?.end('fenced', new TaskAbortedError('fenced', 'the job lock was lost'));
    }
  }

  /** Shutdown: new jobs go straight back, running attempts are handed over. */
  shutDown(): void {
    this.shuttingDown = true;
    for (const attempt of this.attempts.values()) {
      attempt.end('shutdown', new TaskAbortedError('shutdown', 'Worker shutting down'));
    }
  }

  /** The newest event is this attempt's `retry` (after a throw) or one is appended (a lost worker). */
  private async markRetry(attempt: DurableAttempt, claim: TaskClaim): Promise<void> {
    if (claim.lastEventId > 0) {
      const [newest] = (await this.store.read(attempt.taskId, claim.lastEventId - 1, 1)).events;
      if (
        newest?.type === RETRY_EVENT &&
        (JSON.parse(newest.data) as { attempt?: unknown }).attempt === claim.attempt
      ) {
        return;
      }
    }
    await this.appendRetry(attempt.taskId, claim.attempt, WORKER_LOST_REASON);
  }

  /** Runs the handler until it settles or the attempt is over, whichever comes first. */
  private async run(attempt: DurableAttempt, name: string, input: unknown): Promise<Settled | undefined> {
    const handler = this.registry.get(name);
    const settled = (async (): Promise<Settled> => {
      try {
        return { ok: true, value: await handler.run(input, attempt.context) };
      } catch (error) {
        return { ok: false, error };
      }
    })();
    return Promise.race([settled, attempt.whenOver.then(() => undefined)]);
  }

  private async conclude(
    attempt: DurableAttempt,
    settled: Settled | undefined,
    job: Job<DurableJobData>,
    token: string | undefined,
  ): Promise<void> {
    const { taskId } = attempt;
    const over = attempt.over;
    if (over === 'ended') return; // ended elsewhere: the job completes, no retry
    if (over === 'fenced') {
      if (this.attempts.get(taskId) === attempt) this.store.releaseClaim?.(taskId);
      return; // BullMQ's lock is someone else's: whatever the job's state says, this attempt is done
    }
    if (over === 'timeout') {
      await attempt.ending; // the end event first: the queue's failure would end it with less detail
      throw new this.bullmq.UnrecoverableError('task timed out');
    }
    if (over === 'shutdown') {
      // Never counted as a failed attempt: whatever fails here, the job goes back (or its
      // lock lapses and BullMQ's stalled-job recovery hands it over).
      await this.appendRetry(taskId, attempt.attempt + 1, WORKER_SHUT_DOWN_REASON).catch((err: unknown) => {
        const record = { taskId, error: errorText(err) };
        this.logger.error(logRecord('the retry event of a handed-over task could not be stored', record));
      });
      this.store.releaseClaim?.(taskId);
      return this.handBack(job, token);
    }
    const outcome: Settled = over === 'error' ? { ok: false, error: attempt.failure } : settled!;
    attempt.end('settled', undefined, outcome.ok ? 'completed' : 'failed'); // later emits refused
    if (outcome.ok) {
      await this.finish(taskId, { status: 'completed', result: outcome.value });
      return;
    }
    const { error } = outcome;
    if (!(error instanceof TaskError)) {
      this.logger.error(
        logRecord('durable task attempt failed', {
          taskId,
          attempt: attempt.attempt,
          error: errorText(error),
        }),
        errorStack(error),
      );
    }
    const message = publicMessage(error);
    const unrecoverable = error instanceof this.bullmq.UnrecoverableError;
    if (!unrecoverable && job.attemptsMade + 1 < (job.opts.attempts ?? 1)) {
      if (!(await this.appendRetry(taskId, attempt.attempt + 1, message))) return;
      this.store.releaseClaim?.(taskId);
      throw error instanceof Error ? error : new Error(message);
    }
    await this.finish(taskId, { status: 'failed', error: message });
    throw new this.bullmq.UnrecoverableError(message);
  }

  /** Appends `retry {attempt, reason}`; false if this attempt was fenced or the task ended meanwhile. */
  private async appendRetry(taskId: string, attempt: number, reason: string): Promise<boolean> {
    try {
      await this.store.append(taskId, RETRY_EVENT, JSON.stringify({ attempt, reason }));
      return true;
    } catch (err) {
      if (err instanceof TaskNotRunningError) return false;
      throw err;
    }
  }

  private timeOut(attempt: DurableAttempt, timeoutMs: number): void {
    const message = `Task timed out after ${timeoutMs} ms`;
    if (!attempt.end('timeout', new TaskAbortedError('timeout', message), 'failed')) return;
    attempt.ending = this.finish(attempt.taskId, { status: 'failed', error: message }).catch(
      (err: unknown) => {
        this.logger.error(
          logRecord("a timed-out task's end could not be stored", {
            taskId: attempt.taskId,
            error: errorText(err),
          }),
        );
      },
    );
  }

  /** Ends the task; a fenced attempt or an ended task changes nothing. */
  private async finish(taskId: string, outcome: Outcome): Promise<void> {
    try {
      await this.store.finish(taskId, this.serializer.termination(outcome, taskId));
    } catch (err) {
      if (err instanceof TaskNotRunningError || err instanceof TaskNotFoundError) return;
      throw err;
    }
  }

  /** Gives the job back to the queue at once (`WaitingError`): another worker takes it. */
  private async handBack(job: Job<DurableJobData>, token: string | undefined): Promise<void> {
    try {
      await job.moveToWait(token);
    } catch (err) {
      // Not ours any more, or Redis away: the lock lapses and stalled-job recovery moves it.
      this.logger.error(
        logRecord('a job could not be handed back', { taskId: job.data.taskId, error: errorText(err) }),
      );
    }
    throw new this.bullmq.WaitingError(); // BullMQ then leaves the job alone
  }
}
