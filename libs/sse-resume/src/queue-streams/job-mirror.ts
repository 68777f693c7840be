import type { LoggerService } from '@nestjs/common';
import { TaskNotFoundError, TaskNotRunningError } from '../errors';
import type { SourceEvent, TaskStore, TaskTermination } from '../interfaces/task-store.interface';
import { errorText, logRecord, type LogFields } from '../log-record';
import type { JobSnapshot, QueueJobReader, QueueStreamEntry } from './queue-job-reader';
import { logPosition, streamPosition } from './queue-stream-ids';

/** A store that can mirror (checked at boot). */
export type MirrorStore = TaskStore & Required<Pick<TaskStore, 'appendOnce'>>;

/** The `reason` of a `retry` after BullMQ's stalled-job recovery took a job from a lost worker. */
export const LOST_WORKER_REASON = 'worker lost: its job lock lapsed';
/** How long "no task for this job" is believed (the instance that calls access() never relies on it). */
const ABSENT_MS = 1_000;
/** How long an ended mirror is remembered (its job's later events are skipped without a lookup). */
const ENDED_MS = 10 * 60_000;
/** Remembered absent/ended jobs before the expired ones are swept. */
const ABSENT_SWEEP_SIZE = 10_000;

/** A job whose task this instance mirrors. */
interface MirroredJob {
  jobId: string;
  taskId: string;
  /** Log lines appended so far (as far as this instance knows; `appendOnce` refuses repeats). */
  logCount: number;
  /** `attemptsMade` at the last `retry` mirrored, so a requeue without a throw adds none. */
  retriedAt: number;
  ended: boolean;
  /** This job's work, one step after the other (events in order, logs between). */
  chain: Promise<void>;
  polling: boolean;
}

/**
 * Mirrors one queue's jobs into their tasks, each BullMQ event at most once whatever the
 * number of instances: `appendOnce` keyed by the events stream's id (`events`) or the log
 * line's index (`logs`). Only jobs whose task exists (made by `access()`) are mirrored.
 */
export class JobMirror {
  private readonly live = new Map<string, MirroredJob>();
  /** jobId -> until when it is believed to have no running task. */
  private readonly absent = new Map<string, number>();
  /**
   * When events were last found trimmed before this instance read them (epoch ms, 0:
   * never): a task made before then that this instance finds only now gets a resync first.
   */
  resyncCreatedBefore = 0;

  constructor(
    private readonly store: MirrorStore,
    private readonly reader: QueueJobReader,
    private readonly queue: string,
    private readonly taskIdOf: (jobId: string) => string,
    private readonly logger: LoggerService,
    private readonly now: () => number = Date.now,
  ) {}

  /** Jobs mirrored by this instance now. */
  get size(): number {
    return this.live.size;
  }

  /** Mirrors the job from now on (its task exists: access() made or found it). */
  track(jobId: string): void {
    this.absent.delete(jobId);
    if (!this.live.has(jobId)) this.live.set(jobId, this.mirrored(jobId));
  }

  /**
   * Writes the job's state now: its progress, its logs so far, its end if finished (see
   * `seedNow`). Later events are mirrored after it.
   */
  seed(jobId: string): Promise<void> {
    this.track(jobId);
    const job = this.live.get(jobId);
    return job ? this.run(job, () => this.seedNow(job)) : Promise.resolve();
  }

  /** Resyncs every job this instance mirrors (events were trimmed before it read them). */
  async resyncAll(): Promise<void> {
    await Promise.all([...this.live.values()].map((job) => this.run(job, () => this.seedNow(job))));
  }

  /** Mirrors a batch of the events stream: jobs in parallel, each job's events in order. */
  async apply(entries: readonly QueueStreamEntry[]): Promise<void> {
    const byJob = new Map<string, QueueStreamEntry[]>();
    for (const entry of entries) {
      const jobId = entry.fields.jobId;
      if (jobId === undefined) continue;
      const list = byJob.get(jobId);
      if (list) list.push(entry);
      else byJob.set(jobId, [entry]);
    }
    await Promise.all(
      [...byJob].map(async ([jobId, jobEntries]) => {
        const found = await this.find(jobId);
        if (!found) return;
        await this.run(found.job, async (job) => {
          if (found.fresh && found.createdAt < this.resyncCreatedBefore) await this.seedNow(job);
          await this.syncLogs(job);
          for (const entry of jobEntries) {
            if (job.ended) return;
            await this.applyEvent(job, entry);
          }
        });
      }),
    );
  }

  /** Appends new log lines of every mirrored job (a worker's `job.log()` leaves no stream entry). */
  async pollLogs(): Promise<void> {
    await Promise.all(
      [...this.live.values()].map(async (job) => {
        if (job.polling) return;
        job.polling = true;
        try {
          await this.run(job, () => this.syncLogs(job));
        } catch (err) {
          this.logger.warn(logRecord('queue stream: could not mirror logs', this.context(job, err)));
        } finally {
          job.polling = false;
        }
      }),
    );
  }

  private mirrored(jobId: string): MirroredJob {
    return {
      jobId,
      taskId: this.taskIdOf(jobId),
      logCount: 0,
      retriedAt: 0,
      ended: false,
      chain: Promise.resolve(),
      polling: false,
    };
  }

  /** The job's mirror if its task is running; `fresh` when this instance just learned of it. */
  private async find(
    jobId: string,
  ): Promise<{ job: MirroredJob; fresh: boolean; createdAt: number } | undefined> {
    const known = this.live.get(jobId);
    if (known) return { job: known, fresh: false, createdAt: 0 };
    const until = this.absent.get(jobId);
    if (until !== undefined && until > this.now()) return undefined;
    const lookup = await this.store.lookup(this.taskIdOf(jobId));
    if (lookup.state !== 'found' || lookup.task.status !== 'running') {
      this.remember(jobId, lookup.state === 'found' ? ENDED_MS : ABSENT_MS);
      return undefined;
    }
    // access() may have tracked it meanwhile.
    const raced = this.live.get(jobId);
    if (raced) return { job: raced, fresh: false, createdAt: 0 };
    const job = this.mirrored(jobId);
    this.live.set(jobId, job);
    return { job, fresh: true, createdAt: lookup.task.createdAt };
  }

  /** Runs `step` after the job's earlier steps; a task that ended (elsewhere too) stops its mirror. */
  private run(job: MirroredJob, step: (job: MirroredJob) => Promise<void>): Promise<void> {
    const next = job.chain.then(() => (job.ended ? undefined : step(job)));
    job.chain = next.catch(() => undefined);
    return next.catch((err: unknown) => {
      if (err instanceof TaskNotRunningError || err instanceof TaskNotFoundError) return this.end(job);
      throw err;
    });
  }

  /**
   * The job's state as read at stream entry `at`: its progress is appended at the position
   * of the job's newest `progress` entry (at `at` if that is too far back), so that it is
   * refused if that entry was mirrored already (by this instance or another) and refuses
   * it and every older entry otherwise. Never a progress twice, never one backward.
   */
  private async seedNow(job: MirroredJob): Promise<void> {
    const snapshot = await this.reader.snapshot(job.jobId);
    if (!snapshot) {
      return this.finish(job, failed(`Job ${job.jobId} is no longer in queue ${this.queue}`));
    }
    job.retriedAt = Math.max(job.retriedAt, snapshot.attemptsMade);
    if (snapshot.progress !== undefined && snapshot.progress !== '0') {
      const newest = await this.reader.lastProgressId(job.jobId, snapshot.at);
      const position = streamPosition(newest ?? snapshot.at);
      await this.appendEvent(job, position, { type: 'progress', data: snapshot.progress });
    }
    await this.syncLogs(job);
    if (snapshot.finished?.status === 'completed')
      await this.finish(job, completed(snapshot.finished.result));
    else if (snapshot.finished) await this.finish(job, failed(snapshot.finished.reason));
  }

  private async applyEvent(job: MirroredJob, { id, fields }: QueueStreamEntry): Promise<void> {
    const position = streamPosition(id);
    switch (fields.event) {
      case 'progress':
        return this.appendEvent(job, position, { type: 'progress', data: fields.data ?? 'null' });
      case 'waiting':
        // Back from active without a throw (stalled, moved back) adds no retry here.
        if (fields.prev !== 'active') return;
        return this.retryAfterThrow(job, position);
      case 'delayed':
        return this.retryAfterThrow(job, position);
      case 'stalled': {
        const snapshot = await this.reader.snapshot(job.jobId);
        if (!snapshot) return;
        return this.appendEvent(job, position, retry(snapshot, LOST_WORKER_REASON));
      }
      case 'completed':
        await this.syncLogs(job);
        return this.finish(job, completed(fields.returnvalue));
      case 'failed':
        await this.syncLogs(job);
        return this.finish(job, failed(fields.failedReason ?? 'Job failed'));
      case 'removed':
        return this.finish(job, failed(`Job ${job.jobId} was removed from queue ${this.queue}`));
      default:
        return;
    }
  }

  /** A requeue (`waiting` from active, or `delayed`) after a throw: a `retry` event. */
  private async retryAfterThrow(job: MirroredJob, position: string): Promise<void> {
    const snapshot = await this.reader.snapshot(job.jobId);
    if (!snapshot || snapshot.failedReason === undefined || snapshot.attemptsMade <= job.retriedAt) return;
    job.retriedAt = snapshot.attemptsMade;
    await this.appendEvent(job, position, retry(snapshot, snapshot.failedReason));
  }

  private async syncLogs(job: MirroredJob): Promise<void> {
    const lines = await this.reader.logs(job.jobId, job.logCount);
    for (const line of lines) {
      await this.store.appendOnce(job.taskId, 'logs', logPosition(job.logCount), [
        { type: 'log', data: JSON.stringify({ line }) },
      ]);
      job.logCount++;
    }
  }

  private async appendEvent(job: MirroredJob, position: string, event: SourceEvent): Promise<void> {
    await this.store.appendOnce(job.taskId, 'events', position, [event]);
  }

  private async finish(job: MirroredJob, termination: TaskTermination): Promise<void> {
    await this.store.finish(job.taskId, termination);
    this.end(job);
  }

  private end(job: MirroredJob): void {
    job.ended = true;
    if (this.live.get(job.jobId) === job) this.live.delete(job.jobId);
    this.remember(job.jobId, ENDED_MS);
  }

  private remember(jobId: string, ms: number): void {
    const now = this.now();
    if (this.absent.size >= ABSENT_SWEEP_SIZE) {
      for (const [id, until] of this.absent) if (until <= now) this.absent.delete(id);
    }
    this.absent.set(jobId, now + ms);
  }

  private context(job: MirroredJob, err: unknown): LogFields {
    return { queue: this.queue, jobId: job.jobId, taskId: job.taskId, error: errorText(err) };
  }
}

/** A `retry` event: the attempt that starts next (throws + stalls so far + 1) and why. */
function retry(snapshot: JobSnapshot, reason: string): SourceEvent {
  const attempt = snapshot.attemptsMade + snapshot.stalledCounter + 1;
  return { type: 'retry', data: JSON.stringify({ attempt, reason }) };
}

function completed(result: string | undefined): TaskTermination {
  let value: unknown;
  try {
    value = result === undefined ? undefined : JSON.parse(result);
  } catch {
    value = result; // not JSON: BullMQ always writes JSON, but keep what is there
  }
  const end = value === undefined ? { status: 'completed' } : { status: 'completed', result: value };
  return { status: 'completed', data: JSON.stringify(end) };
}

function failed(reason: string): TaskTermination {
  return { status: 'failed', data: JSON.stringify({ status: 'failed', error: reason }), error: reason };
}
