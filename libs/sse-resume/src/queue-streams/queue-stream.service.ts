import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  NotFoundException,
  OnApplicationBootstrap,
  Optional,
  type MessageEvent,
} from '@nestjs/common';
import type { Observable } from 'rxjs';
import { hashResumeKey } from '../access/resume-key';
import { TaskExpiredError, TaskNotFoundError } from '../errors';
import type { StartedTask } from '../interfaces/task-context.interface';
import { TaskStore } from '../interfaces/task-store.interface';
import { LOGGER_NAME } from '../sse-resume.messages';
import { SseTaskService } from '../sse-task.service';
import { loadBullmq } from '../durable/bullmq-loader';
import { JobMirror, type MirrorStore } from './job-mirror';
import { createQueueRedis, type QueueRedis } from './queue-connection';
import { QueueEventLoop, type QueueEventLoopTiming } from './queue-event-loop';
import { QueueJobReader } from './queue-job-reader';
import { resumeKeyOf, taskIdOf } from './queue-stream-ids';
import {
  QUEUE_STREAMS_OPTIONS,
  queueStreamsMessages,
  type ResolvedQueueStreamsOptions,
} from './queue-streams.options';
import { createHash } from 'node:crypto';

/** Longest job id accepted (BullMQ ids are short; this one comes from a request). */
const MAX_JOB_ID_CHARS = 256;
/** Token of the loop timing (tests shorten it). */
export const QUEUE_STREAMS_TIMING = Symbol('QUEUE_STREAMS_TIMING');

/** One streamed queue: its reader, mirror and loop. */
interface StreamedQueue {
  reader: QueueJobReader;
  mirror: JobMirror;
  loop: QueueEventLoop;
}

/** Where and how a stream of a queue's job resumes. */
export interface QueueJobStreamOptions {
  lastEventId?: number;
  subscriberId?: string;
}

/**
 * Streams jobs of existing BullMQ queues (the `queueStreams` option) as tasks with the
 * library's contract, without changing their workers: `job.updateProgress()` becomes a
 * `progress` event, `job.log()` a `log` event, retries a `retry` event, completion and
 * failure the `end` event. A job's task has a fixed id ({@link taskIdOf}), so the app's
 * task routes (`/tasks/:taskId/events`, `GET`, `DELETE`) serve it.
 */
@Injectable()
export class QueueStreamService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(LOGGER_NAME);
  private readonly queues = new Map<string, StreamedQueue>();
  private commands: QueueRedis | undefined;

  constructor(
    @Inject(TaskStore) private readonly store: TaskStore,
    private readonly tasks: SseTaskService,
    @Optional()
    @Inject(QUEUE_STREAMS_OPTIONS)
    private readonly options: ResolvedQueueStreamsOptions | null = null,
    @Optional() @Inject(QUEUE_STREAMS_TIMING) private readonly timing: QueueEventLoopTiming = {},
  ) {}

  /** Whether `queueStreams` is configured. */
  get enabled(): boolean {
    return this.options !== null;
  }

  /** The task id of a job: the same on every instance, whether or not its stream was opened. */
  taskIdOf(queue: string, jobId: string): string {
    const options = this.requireQueue(queue);
    return taskIdOf(options.prefix, queue, checkJobId(jobId));
  }

  /**
   * The job's task (made on first call, with the job's state so far: progress, logs, end)
   * and its resume key, which every instance derives from `queueStreams.secret`. Stream it
   * on the app's task routes. Throws `TaskNotFoundError` (404) for a job not in the queue,
   * `TaskExpiredError` (410) once its task expired. Who may call this is the app's choice.
   */
  async access(queue: string, jobId: string): Promise<StartedTask> {
    const streamed = this.started(queue);
    const taskId = this.taskIdOf(queue, jobId);
    const resumeKey = resumeKeyOf(this.requireOptions().secret, taskId);
    const lookup = await this.store.lookup(taskId);
    if (lookup.state === 'expired') throw new TaskExpiredError(taskId);
    if (lookup.state === 'found') {
      if (lookup.task.status === 'running') streamed.mirror.track(jobId);
      return { taskId, resumeKey };
    }
    if ((await streamed.reader.snapshot(jobId)) === undefined) throw new TaskNotFoundError(taskId);
    try {
      await this.store.create({
        taskId,
        keyHash: hashResumeKey(resumeKey),
        createdAt: Date.now(),
        durable: true,
        metadata: { queue, jobId },
      });
    } catch (err) {
      // Another request or instance made it first: that one seeds it.
      if ((await this.store.lookup(taskId)).state !== 'found') throw err;
      streamed.mirror.track(jobId);
      return { taskId, resumeKey };
    }
    await streamed.mirror.seed(jobId);
    return { taskId, resumeKey };
  }

  /**
   * `access()`, the stream's checks, then the task's stream, for an `@Sse()` handler that
   * takes a queue and a job id (`return this.bridge.stream(queue, jobId, { lastEventId })`):
   * every refusal (404, 410, 400, 204) is thrown before the response head is sent.
   */
  async stream(
    queue: string,
    jobId: string,
    options: QueueJobStreamOptions = {},
  ): Promise<Observable<MessageEvent>> {
    const { taskId, resumeKey } = await this.access(queue, jobId);
    const streamOptions = { resumeKey, ...options };
    await this.tasks.authorizeStream(taskId, streamOptions);
    return this.tasks.stream(taskId, streamOptions);
  }

  /** Jobs mirrored by this instance now, per queue (for metrics and tests). */
  get stats(): Record<string, number> {
    return Object.fromEntries([...this.queues].map(([name, q]) => [name, q.mirror.size]));
  }

  /** Starts reading every queue's events stream (after the store's init in onModuleInit). */
  async onApplicationBootstrap(): Promise<void> {
    const options = this.options;
    if (options === null) return;
    if (typeof this.store.appendOnce !== 'function') throw new Error(queueStreamsMessages.noAppendOnce);
    const [{ QueueKeys }, ioredis] = await Promise.all([loadBullmq(), import('ioredis')]);
    const keys = new QueueKeys(options.prefix);
    const commands = createQueueRedis(ioredis, options.connection, { name: 'sse-resume:queue-streams' });
    this.commands = commands;
    // Apps bridging the same queue with other secrets (other stores) keep their own cursors.
    const app = createHash('sha256').update(options.secret).digest('hex').slice(0, 12);
    for (const queue of options.queues) {
      const queueKey = keys.getQueueQualifiedName(queue);
      const reader = new QueueJobReader(commands, queueKey);
      const mirror = new JobMirror(
        this.store as MirrorStore,
        reader,
        queue,
        (jobId) => taskIdOf(options.prefix, queue, jobId),
        this.logger,
      );
      const blocking = createQueueRedis(ioredis, options.connection, {
        blocking: true,
        name: `sse-resume:queue-streams:${queue}`,
      });
      const loop = new QueueEventLoop(
        blocking,
        commands,
        reader,
        mirror,
        `${queueKey}:sse-resume:cursor:${app}`,
        this.logger,
        this.timing,
      );
      this.queues.set(queue, { reader, mirror, loop });
    }
    await Promise.all([...this.queues.values()].map(({ loop }) => loop.start()));
  }

  /** Stops the loops before the store closes. */
  async beforeApplicationShutdown(): Promise<void> {
    await Promise.all([...this.queues.values()].map(({ loop }) => loop.stop()));
    this.queues.clear();
    this.commands?.disconnect();
    this.commands = undefined;
  }

  private requireOptions(): ResolvedQueueStreamsOptions {
    if (this.options === null) {
      throw new Error('QueueStreamService: the queueStreams option is not configured');
    }
    return this.options;
  }

  private requireQueue(queue: string): ResolvedQueueStreamsOptions {
    const options = this.requireOptions();
    if (!options.queues.includes(queue)) {
      throw new NotFoundException(
        `queue ${String(queue).slice(0, 64)} is not streamed (queueStreams.queues)`,
      );
    }
    return options;
  }

  private started(queue: string): StreamedQueue {
    this.requireQueue(queue);
    const streamed = this.queues.get(queue);
    if (!streamed) throw new Error('QueueStreamService: not started yet (the app has not bootstrapped)');
    return streamed;
  }
}

function checkJobId(jobId: string): string {
  if (typeof jobId !== 'string' || jobId.length === 0 || jobId.length > MAX_JOB_ID_CHARS) {
    throw new NotFoundException('no such job');
  }
  return jobId;
}
