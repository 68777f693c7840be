/**
 * This library, used the way its users use it (same code as the example app's
 * `TasksController`): a task started with `SseTaskService.start()`, and an ordinary
 * `@Sse(':taskId/events') @SseResume()` endpoint returning `SseTaskService.stream()`.
 *
 * The bench task is one long-running task function that waits for emit requests and
 * emits each request's events with `context.emit()`, 100 per turn of the event loop
 * (not awaited per event or turn, as the other contenders' emitters do not wait either).
 * `POST /emit` hands it a request; `GET /stream` is rewritten by a one-line Express
 * middleware to `GET /tasks/<task id>/events?key=<resume key>` (headers, including
 * `Last-Event-ID`, untouched), so streams go through the library's guard, interceptor
 * and writer exactly as a user's would.
 *
 * Options differing from the defaults (all public options; see bench/README.md):
 * historyLimit/historyBytes large enough to keep the 100 000-event backlog of workload d,
 * maxSubscribersPerTask for the 10 000 subscribers of workload e, and maxPendingBytes so a
 * subscriber is not dropped when the emitter outpaces the client (no other contender drops).
 *
 * Store: in memory, Redis when REDIS_URL is set, a Redis Cluster when REDIS_CLUSTER_NODES is
 * (see {@link storeOptions}).
 */
import 'reflect-metadata';
import {
  Controller,
  Get,
  Injectable,
  type MessageEvent,
  Module,
  type OnApplicationBootstrap,
  Param,
  Post,
  Query,
  ServiceUnavailableException,
  Sse,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { ScheduleModule } from '@nestjs/schedule';
import type { AddressInfo } from 'node:net';
import type { Observable } from 'rxjs';
import {
  LastEventId,
  ResumeKey,
  SseResume,
  SseResumeModule,
  type SseResumeOptions,
  SseTaskService,
  type TaskContext,
} from '../../libs/sse-resume/src';
import {
  announce,
  EVENTS_PER_TURN,
  nextTurn,
  padFor,
  parseEmitQuery,
  payload,
  portFromEnv,
  serverStats,
  type ServerStats,
} from '../common';

/**
 * The store, chosen the way users choose it: `store: 'redis'` with `redis: { nodes, keyPrefix }`
 * when REDIS_CLUSTER_NODES (`host:port,host:port,…`) is set, with `redis: { url, keyPrefix }`
 * when REDIS_URL is set, else the in-memory default. Keys start with the harness's unique
 * BENCH_KEY_PREFIX (it deletes `<prefix>*`, or flushes its private cluster, after each run).
 * If the module's way of selecting the Redis store changes, this is the one place to adapt.
 */
function storeOptions(): Pick<SseResumeOptions, 'store' | 'redis'> {
  const keyPrefix = `${process.env.BENCH_KEY_PREFIX ?? `ssebench:${process.pid}`}:`;
  const nodes = process.env.REDIS_CLUSTER_NODES?.split(',').filter(Boolean);
  if (nodes?.length) return { store: 'redis', redis: { nodes, keyPrefix } };
  const url = process.env.REDIS_URL;
  if (!url) return { store: 'memory' };
  return { store: 'redis', redis: { url, keyPrefix } };
}

interface EmitRequest {
  count: number;
  size: number;
  done: () => void;
  failed: (err: unknown) => void;
}

/** The one long-running task whose events the bench streams. */
@Injectable()
class BenchTask implements OnApplicationBootstrap {
  taskId = '';
  resumeKey = '';
  private readonly requests: EmitRequest[] = [];
  private wake: (() => void) | undefined;
  private lastId = 0;

  constructor(private readonly tasks: SseTaskService) {}

  async onApplicationBootstrap(): Promise<void> {
    const started = await this.tasks.start((context) => this.run(context));
    this.taskId = started.taskId;
    this.resumeKey = started.resumeKey;
  }

  /** Resolves once the task has emitted `count` more events. */
  emit(count: number, size: number): Promise<void> {
    return new Promise((done, failed) => {
      this.requests.push({ count, size, done, failed });
      this.wake?.();
    });
  }

  private async run(context: TaskContext): Promise<void> {
    while (!context.signal.aborted) {
      const request = this.requests.shift();
      if (!request) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          context.signal.addEventListener('abort', () => resolve(), { once: true });
        });
        this.wake = undefined;
        continue;
      }
      try {
        await this.emitEvents(context, request.count, request.size);
        request.done();
      } catch (err) {
        request.failed(err);
      }
    }
  }

  /**
   * 100 events per turn, like every contender's emitter: `emit()` is not awaited (the library
   * documents that as safe; a store failure fails the task), so a networked store batches as
   * it likes. The request answers once the last event is stored (ids are assigned in order).
   */
  private async emitEvents(context: TaskContext, count: number, size: number): Promise<void> {
    const pad = padFor(size);
    let left = count;
    let last: Promise<number> | undefined;
    while (left > 0) {
      const n = Math.min(EVENTS_PER_TURN, left);
      for (let k = 0; k < n; k++) last = context.emit(payload(++this.lastId, pad));
      left -= n;
      if (left > 0) await nextTurn();
    }
    await last;
  }
}

@Controller()
class BenchController {
  constructor(
    private readonly tasks: SseTaskService,
    private readonly bench: BenchTask,
  ) {}

  /** The user-facing endpoint, as in the example app. */
  @Sse('tasks/:taskId/events')
  @SseResume()
  events(
    @Param('taskId') taskId: string,
    @ResumeKey() resumeKey: string | undefined,
    @LastEventId() lastEventId: number | undefined,
  ): Observable<MessageEvent> {
    return this.tasks.stream(taskId, { resumeKey, lastEventId });
  }

  @Get('ready')
  ready(@Query('n') n: string): { open: number } {
    const open = this.tasks.stats.openStreams;
    if (open < Number(n ?? 0)) throw new ServiceUnavailableException({ open });
    return { open };
  }

  @Get('stats')
  stats(@Query('gc') gc?: string): ServerStats {
    return serverStats(gc === '1');
  }

  @Post('emit')
  async emit(@Query() query: Record<string, unknown>): Promise<{ ok: true }> {
    const { count, size } = parseEmitQuery(query);
    await this.bench.emit(count, size);
    return { ok: true };
  }
}

const MIB = 1024 * 1024;

@Module({
  imports: [
    ScheduleModule.forRoot(),
    SseResumeModule.forRoot({
      historyLimit: 250_000,
      historyBytes: 512 * MIB,
      maxSubscribersPerTask: 20_000,
      maxPendingBytes: 256 * MIB,
      ...storeOptions(),
    }),
  ],
  controllers: [BenchController],
  providers: [BenchTask],
})
class BenchModule {}

async function main(): Promise<void> {
  const app = await NestFactory.create<NestExpressApplication>(BenchModule, { logger: ['error', 'warn'] });
  const bench = app.get(BenchTask);
  // `/stream` of the bench contract = this task's events endpoint (same route, guard, interceptor).
  // The target is built once (the task starts during listen()), so requests share one string.
  let target: string | undefined;
  app.use((req: { url: string }, _res: unknown, next: () => void) => {
    if (req.url === '/stream' || req.url.startsWith('/stream?')) {
      req.url = target ??= `/tasks/${bench.taskId}/events?key=${bench.resumeKey}`.normalize();
    }
    next();
  });
  await app.listen(portFromEnv(), '127.0.0.1');
  announce((app.getHttpServer().address() as AddressInfo).port);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
