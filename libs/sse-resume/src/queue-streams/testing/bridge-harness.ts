import type { INestApplication, MessageEvent, Type } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import { Queue, Worker, type Processor } from 'bullmq';
import { lastValueFrom, toArray } from 'rxjs';
import type { SseResumeOptions } from '../../interfaces/sse-resume-options.interface';
import { SseResumeModule } from '../../sse-resume.module';
import { SSE_RESUME_GIVEN_OPTIONS } from '../../sse-resume.module-definition';
import { SseTaskService } from '../../sse-task.service';
import { listenOnLoopback } from '../../testing/nest-app';
import { deleteKeys, TEST_REDIS_URL } from '../../testing/redis';
import { queueStreamProviders } from '../queue-stream.providers';
import { QUEUE_STREAMS_TIMING, QueueStreamService } from '../queue-stream.service';
import type { QueueEventLoopTiming } from '../queue-event-loop';

/** Test helpers of queue streams (not part of the public API). */

export const BRIDGE_SECRET = 'bridge-test-secret-0123456789abcdef';
export const FAST_TIMING: QueueEventLoopTiming = { blockMs: 200, logPollMs: 50, retryMs: 50 };

/** A random `br-...` name: queue names and key prefixes no other test shares. */
export function bridgeName(): string {
  return `br-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}

export interface BridgeApp {
  app: INestApplication;
  tasks: SseTaskService;
  bridge: QueueStreamService;
  /** `http://127.0.0.1:<port>` when started with `listen`. */
  url: string;
  close(): Promise<void>;
}

/**
 * A Nest app with SseResumeModule, the queue stream providers wired as the module will
 * wire them, and `controllers`; listening on a loopback port when `listen`.
 */
export async function startBridgeApp(
  options: SseResumeOptions,
  {
    controllers = [],
    listen = false,
    timing = FAST_TIMING,
  }: { controllers?: Type[]; listen?: boolean; timing?: QueueEventLoopTiming } = {},
): Promise<BridgeApp> {
  const moduleRef = await Test.createTestingModule({
    imports: [ScheduleModule.forRoot(), SseResumeModule.forRoot(options)],
    controllers,
    providers: [
      { provide: SSE_RESUME_GIVEN_OPTIONS, useValue: options },
      { provide: QUEUE_STREAMS_TIMING, useValue: timing },
      ...queueStreamProviders(),
    ],
  }).compile();
  moduleRef.useLogger(false);
  const app = moduleRef.createNestApplication({ logger: false });
  let url = '';
  let destroySockets = (): void => undefined;
  if (listen) {
    const listening = await listenOnLoopback(app);
    url = listening.url;
    destroySockets = () => listening.destroySockets();
  } else {
    await app.init();
  }
  return {
    app,
    url,
    tasks: app.get(SseTaskService),
    bridge: app.get(QueueStreamService),
    close: async () => {
      destroySockets();
      await app.close();
    },
  };
}

/** A BullMQ queue and the workers of a test, on the shared Redis under its own prefix. */
export class TestQueue {
  readonly queue: Queue;
  private readonly workers: Worker[] = [];

  constructor(
    readonly name: string,
    readonly prefix: string,
  ) {
    this.queue = new Queue(name, { connection: { url: TEST_REDIS_URL }, prefix });
  }

  /** A plain BullMQ worker, as an app that knows nothing of this library runs it. */
  worker(processor: Processor, concurrency = 1): Worker {
    const worker = new Worker(this.name, processor, {
      connection: { url: TEST_REDIS_URL },
      prefix: this.prefix,
      concurrency,
    });
    this.workers.push(worker);
    return worker;
  }

  /** Closes the workers and the queue, then deletes every key under the prefix. */
  async cleanUp(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.close(true)));
    await this.queue.obliterate({ force: true }).catch(() => undefined);
    await this.queue.close();
    await deleteKeys(`${this.prefix}:`);
  }
}

/** Every message of a task's stream until its end (the task must end). */
export function readAll(
  tasks: SseTaskService,
  taskId: string,
  resumeKey: string,
  lastEventId?: number,
): Promise<MessageEvent[]> {
  return lastValueFrom(tasks.stream(taskId, { resumeKey, lastEventId }).pipe(toArray()));
}

/** The events (type, id, parsed data) of a stream's messages, without open/heartbeat messages. */
export function eventsOf(messages: readonly MessageEvent[]): { type: string; id: number; data: unknown }[] {
  return messages
    .filter((m) => m.type !== undefined && m.id !== undefined)
    .map((m) => ({
      type: m.type as string,
      id: Number(m.id),
      data: typeof m.data === 'string' ? (JSON.parse(m.data) as unknown) : m.data,
    }));
}
