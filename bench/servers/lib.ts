/**
 * This library, used the way its users use it (same code as the example app's
 * `TasksController`): tasks started with `SseTaskService.start()`, and an ordinary
 * `@Sse(':taskId/events') @SseResume()` endpoint returning `SseTaskService.stream()`.
 *
 * 100 bench tasks are started at boot, each a long-running task function that waits for emit
 * requests and emits each request's events with `context.emit()`, 100 per turn of the event
 * loop (not awaited per event or turn, as the other contenders' emitters do not wait either).
 * `POST /emit` hands task 0 a request; `POST /emit-periodic` emits one event per tick on each
 * of the first T tasks; `GET /stream?task=K` is rewritten (Express: a one-line middleware;
 * Fastify, `--fastify`: its `rewriteUrl` option) to `GET /tasks/<task K's id>/events?key=<its
 * resume key>` (headers, including `Last-Event-ID`, untouched), so streams go through the
 * library's guard, interceptor and writer exactly as a user's would. `SseResumeExceptionFilter`
 * is registered as in the example app (Retry-After on 429 / 503).
 *
 * Options differing from the defaults (all public options; see bench/README.md):
 * historyLimit/historyBytes large enough to keep the 100 000-event backlog of workload d,
 * maxSubscribersPerTask for 10 000 subscribers on one task, and maxPendingBytes so a
 * subscriber is not dropped when the emitter outpaces the client (no other contender drops).
 *
 * Store: in memory, Redis when REDIS_URL is set, a Redis Cluster when REDIS_CLUSTER_NODES is
 * (see {@link storeOptions}).
 */
import 'reflect-metadata';
import {
  Controller,
  Get,
  type INestApplication,
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
import { HttpAdapterHost, NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { ScheduleModule } from '@nestjs/schedule';
import type { AddressInfo } from 'node:net';
import type { Observable } from 'rxjs';
import {
  LastEventId,
  ResumeKey,
  SseResume,
  SseResumeExceptionFilter,
  SseResumeModule,
  type SseResumeOptions,
  SseTaskService,
  type TaskContext,
} from '../../libs/sse-resume/src';
import {
  announce,
  EVENTS_PER_TURN,
  HEARTBEAT_MS,
  MAX_TASKS,
  nextTurn,
  padFor,
  parseEmitQuery,
  parsePeriodicQuery,
  payload,
  listenOptions,
  runPeriodic,
  serverStats,
  type ServerStats,
  taskOf,
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

/** One long-running task whose events the bench streams. */
class BenchTask {
  taskId = '';
  resumeKey = '';
  /** `GET /stream?task=K` is rewritten to this (built once, so requests share one string). */
  target = '';
  private context: TaskContext | undefined;
  private readonly requests: EmitRequest[] = [];
  private wake: (() => void) | undefined;
  private lastId = 0;

  async start(tasks: SseTaskService): Promise<void> {
    const started = await tasks.start((context) => this.run(context));
    this.taskId = started.taskId;
    this.resumeKey = started.resumeKey;
    this.target = `/tasks/${this.taskId}/events?key=${this.resumeKey}`.normalize();
  }

  /** Resolves once the task has emitted `count` more events. */
  emit(count: number, size: number): Promise<void> {
    return new Promise((done, failed) => {
      this.requests.push({ count, size, done, failed });
      this.wake?.();
    });
  }

  /** One event now (the periodic emitter's tick); not awaited, as above. */
  one(pad: string): void {
    void this.context?.emit(payload(++this.lastId, pad));
  }

  private async run(context: TaskContext): Promise<void> {
    this.context = context;
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

/** The bench's {@link MAX_TASKS} tasks, started at boot; task 0 is the one of `POST /emit`. */
@Injectable()
class BenchTasks implements OnApplicationBootstrap {
  readonly all = Array.from({ length: MAX_TASKS }, () => new BenchTask());

  constructor(private readonly tasks: SseTaskService) {}

  async onApplicationBootstrap(): Promise<void> {
    for (const task of this.all) await task.start(this.tasks);
  }

  /** The rewrite of the contract's `/stream[?task=K]`, or undefined for other URLs. */
  rewrite(url: string): string | undefined {
    if (url !== '/stream' && !url.startsWith('/stream?')) return undefined;
    const query = url.length > 8 ? new URLSearchParams(url.slice(8)) : undefined;
    return this.all[taskOf(query)]!.target;
  }
}

@Controller()
class BenchController {
  constructor(
    private readonly tasks: SseTaskService,
    private readonly bench: BenchTasks,
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
    await this.bench.all[0]!.emit(count, size);
    return { ok: true };
  }

  @Post('emit-periodic')
  emitPeriodic(@Query() query: Record<string, unknown>): Promise<{ perTask: number }> {
    return runPeriodic(parsePeriodicQuery(query), (k, pad) => this.bench.all[k]!.one(pad));
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
      heartbeatMs: HEARTBEAT_MS,
      ...storeOptions(),
    }),
  ],
  controllers: [BenchController],
  providers: [BenchTasks],
})
class BenchModule {}

/** Express (default) or, with `--fastify`, Fastify: the example app's two adapters. */
const FASTIFY = process.argv.includes('--fastify');

async function main(): Promise<void> {
  // `/stream[?task=K]` of the bench contract = task K's events endpoint (same route, guard,
  // interceptor): an Express middleware rewrites it; on Fastify its `rewriteUrl` option (routing
  // happens before any hook could change the URL).
  const routes: { bench?: BenchTasks } = {};
  const rewrite = (url: string): string | undefined => routes.bench?.rewrite(url);
  let app: INestApplication;
  if (FASTIFY) {
    const { FastifyAdapter } = await import('@nestjs/platform-fastify');
    const adapter = new FastifyAdapter({
      rewriteUrl: (req: { url?: string }) => rewrite(req.url ?? '/') ?? req.url ?? '/',
    });
    app = await NestFactory.create(BenchModule, adapter, { logger: ['error', 'warn'] });
  } else {
    const express = await NestFactory.create<NestExpressApplication>(BenchModule, {
      logger: ['error', 'warn'],
    });
    express.use((req: { url: string }, _res: unknown, next: () => void) => {
      req.url = rewrite(req.url) ?? req.url;
      next();
    });
    app = express;
  }
  // Retry-After on the library's 429 / 503 refusals (as in the example app).
  app.useGlobalFilters(new SseResumeExceptionFilter(app.get(HttpAdapterHost).httpAdapter));
  routes.bench = app.get(BenchTasks);
  // Nest hands a `listen()` options object through to Node (Express) / Fastify as it is; its
  // type only names the port form.
  await app.listen(listenOptions() as unknown as number);
  announce((app.getHttpServer().address() as AddressInfo).port);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
