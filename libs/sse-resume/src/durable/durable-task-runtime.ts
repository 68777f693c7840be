import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleInit,
} from '@nestjs/common';
import type { Queue, QueueEvents, Worker } from 'bullmq';
import { randomUUID } from 'node:crypto';
import type { StartNamedTaskOptions } from '../interfaces/durable-task.interface';
import type { ResolvedSseResumeOptions } from '../interfaces/sse-resume-options.interface';
import type { StartedTask } from '../interfaces/task-context.interface';
import type { TerminalStatus } from '../interfaces/task-status.interface';
import { TaskStore } from '../interfaces/task-store.interface';
import { errorText, logRecord } from '../log-record';
import { SSE_RESUME_RESOLVED_OPTIONS } from '../sse-resume.module-definition';
import {
  DURABLE_NEEDS_SHARED_STORE,
  DURABLE_STORE_WITHOUT_CLAIMS,
  LOGGER_NAME,
} from '../sse-resume.messages';
import { TaskSerializer } from '../tasks/task-serializer';
import { loadBullmq } from './bullmq-loader';
import type { DurableJobData } from './durable-job-data';
import { DurableJobProcessor } from './durable-job-processor';
import { DURABLE_TASKS_OPTIONS, type ResolvedDurableTasksOptions } from './durable-runtime-options';
import { type LocalStart, NamedTaskStarter } from './named-task-starter';
import { createQueueConnection, type QueueConnection } from './queue-connection';
import { TaskHandlerRegistry } from './task-handler-registry';

/** Longest wait for one BullMQ close on shutdown (see `settle`). */
const CLOSE_TIMEOUT_MS = 2_000;

/** BullMQ's errors for a job whose lock this worker no longer holds. */
const LOCK_LOST = /lock mismatch|missing lock|could not renew lock/i;
/** At most this many seconds pass before a handed-over job is taken (usually a few ms). */
const HAND_OVER_BOUND_S = 1;

/**
 * Durable tasks in this instance (with the `durable` option): the BullMQ queue their jobs
 * go to, a worker running them (unless `workers: false`), and a listener for the final
 * failures BullMQ decides alone. Without the option it only starts named tasks locally.
 */
@Injectable()
export class DurableTaskRuntime implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(LOGGER_NAME);
  private readonly serializer: TaskSerializer;
  private readonly starter: NamedTaskStarter;
  /** Identifies this instance as the owner of the durable tasks it claims. */
  readonly instanceId = randomUUID();
  private connection: QueueConnection | undefined;
  private queue: Queue<DurableJobData> | undefined;
  private worker: Worker<DurableJobData> | undefined;
  private events: QueueEvents | undefined;
  private processor: DurableJobProcessor | undefined;
  private stopListening: (() => void) | undefined;

  constructor(
    @Inject(TaskStore) private readonly store: TaskStore,
    @Inject(SSE_RESUME_RESOLVED_OPTIONS) private readonly options: ResolvedSseResumeOptions,
    @Inject(DURABLE_TASKS_OPTIONS) private readonly durable: ResolvedDurableTasksOptions | undefined,
    private readonly registry: TaskHandlerRegistry,
  ) {
    this.serializer = new TaskSerializer(options.maxEventBytes, this.logger);
    this.starter = new NamedTaskStarter(store, options, durable, registry, this.serializer, () => this.queue);
  }

  /** Boot checks (shared store with claims, bullmq installed) and the queue. */
  async onModuleInit(): Promise<void> {
    if (!this.durable) return;
    if (!this.store.shared) throw new Error(DURABLE_NEEDS_SHARED_STORE);
    if (!this.store.claim || !this.store.checkpoint || !this.store.releaseClaim) {
      throw new Error(DURABLE_STORE_WITHOUT_CLAIMS);
    }
    const { Queue } = await loadBullmq();
    this.connection = await createQueueConnection(this.durable.connection, this.options.redis);
    this.queue = new Queue<DurableJobData>(this.durable.queueName, {
      connection: this.connection.connection,
      prefix: this.durable.prefix,
    });
    this.queue.on('error', (err) => this.logError('durable task queue error', err));
  }

  /** After every module's init (the store is connected): the failure listener and the worker. */
  async onApplicationBootstrap(): Promise<void> {
    const durable = this.durable;
    if (!durable || !this.connection) return;
    const bullmq = await loadBullmq();
    const { connection } = this.connection;
    this.events = new bullmq.QueueEvents(durable.queueName, { connection, prefix: durable.prefix });
    this.events.on('error', (err) => this.logError('durable task events error', err));
    // Final failures BullMQ decides without a processor (a job stalled too often): end the task.
    this.events.on('failed', ({ jobId, failedReason }) => void this.failTask(jobId, failedReason));
    this.stopListening = this.store.onTaskEnded?.((taskId, status) => this.taskEnded(taskId, status));
    if (!durable.workers) return;
    const processor = new DurableJobProcessor(
      bullmq,
      this.store,
      this.registry,
      this.serializer,
      this.options,
      this.instanceId,
      this.logger,
    );
    this.processor = processor;
    this.worker = new bullmq.Worker<DurableJobData>(
      durable.queueName,
      (job, token) => processor.process(job, token),
      {
        connection,
        prefix: durable.prefix,
        concurrency: durable.concurrency,
        lockDuration: durable.lockDurationMs,
        stalledInterval: durable.stalledIntervalMs,
        maxStalledCount: durable.maxStalledCount,
        // Seconds an idle worker blocks before it looks again: bounds a hand-over whose wake-up
        // the closing worker's own blocking read took (see beforeApplicationShutdown).
        drainDelay: HAND_OVER_BOUND_S,
        ...(durable.limiter && { limiter: durable.limiter }),
      },
    );
    this.worker.on('lockRenewalFailed', (jobIds: string[]) => processor.locksLost(jobIds));
    this.worker.on('error', (err) => {
      // A paused worker that wakes after its job was taken over (its attempt is fenced):
      // BullMQ refuses to finish, delay or renew the job for it. Expected, so not an error.
      if (LOCK_LOST.test(errorText(err))) {
        this.logger.warn(
          logRecord('durable task worker lost a job lock (taken over)', { error: errorText(err) }),
        );
      } else {
        this.logError('durable task worker error', err);
      }
    });
    await this.events.waitUntilReady();
    await this.worker.waitUntilReady();
  }

  /** `SseTaskService.start(name, input, options)`; `runLocal` runs a non-durable one here. */
  start(
    name: string,
    input: unknown,
    options: StartNamedTaskOptions,
    runLocal: LocalStart,
  ): Promise<StartedTask> {
    return this.starter.start(name, input, options, runLocal);
  }

  /** A task ended (by this instance's service or any other): its attempt here stops at once. */
  taskEnded(taskId: string, status: TerminalStatus): void {
    this.processor?.taskEnded(taskId, status);
  }

  /** Durable attempts running in this process. */
  get runningAttempts(): number {
    return this.processor?.size ?? 0;
  }

  /**
   * Hands running attempts over instead of failing them: the worker stops fetching, each
   * attempt appends `retry {reason: 'worker shut down'}`, gives its job back to the queue,
   * and another worker takes it at once. Then the queue connections close.
   */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.worker) {
      const worker = this.worker;
      const closing = worker.close(); // first: no job is fetched again once handed back
      // Let the close drop this worker's blocking read before jobs go back: a read still
      // waiting would take the queue's wake-up meant for the other workers.
      await new Promise((resolve) => setTimeout(resolve, 10));
      this.processor?.shutDown();
      await this.settle(closing, () => worker.disconnect());
    }
    this.stopListening?.();
    const { events, queue } = this;
    if (events) await this.settle(events.close(), () => events.disconnect());
    if (queue) await this.settle(queue.close(), () => queue.disconnect());
    await this.settle(this.connection?.close());
  }

  /**
   * Waits for a close, at most {@link CLOSE_TIMEOUT_MS}: with Redis away (down, paused) BullMQ's
   * close waits for connections that never answer, and a shutdown must not hang on it. Past
   * the bound the connections are dropped (`disconnect`).
   */
  private async settle(closing: Promise<void> | undefined, drop?: () => Promise<void>): Promise<void> {
    if (!closing) return;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), CLOSE_TIMEOUT_MS);
      timer.unref();
    });
    try {
      if ((await Promise.race([closing, timedOut])) === 'timeout') {
        this.logger.warn(
          logRecord('closing the durable task queue timed out; dropping its connections', {
            timeoutMs: CLOSE_TIMEOUT_MS,
          }),
        );
        closing.catch(() => undefined);
        // Not awaited: a disconnect can wait on the same dead connection as the close.
        drop?.().catch(() => undefined);
      }
    } catch (err) {
      this.logError('closing the durable task queue failed', err);
    } finally {
      clearTimeout(timer);
    }
  }

  private async failTask(taskId: string, reason: string): Promise<void> {
    const error = reason || 'Task failed';
    try {
      await this.store.finish(taskId, this.serializer.termination({ status: 'failed', error }, taskId));
    } catch {
      // Ended, gone or fenced: the end is someone else's (finish is idempotent).
    }
  }

  private logError(message: string, err: unknown): void {
    this.logger.error(logRecord(message, { error: errorText(err) }));
  }
}
