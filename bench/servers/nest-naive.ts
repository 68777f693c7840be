/**
 * Naive Nest: plain Nest 12 on Express, `@Sse()` returning a `Subject` as `MessageEvent`s,
 * written the way the Nest docs show it. No native resume: an in-process array of events
 * honours `Last-Event-ID` (and replays the backlog of workload d). `maxPendingDataLength: 0`
 * keeps Nest from dropping a subscriber that falls behind (the other contenders never do
 * either), so every run can deliver everything.
 * Tasks (`?task=K`): a Subject and an array per task. Heartbeat as a plain Nest 12 user writes
 * it: `merge()` of the events with `interval(15 s)` mapped to a comment-only `MessageEvent`
 * (`{ comment: '' }`, which Nest 12 writes as a comment frame), i.e. one timer per subscriber.
 */
import 'reflect-metadata';
import {
  Controller,
  Get,
  Headers,
  type MessageEvent,
  Module,
  Post,
  Query,
  ServiceUnavailableException,
  Sse,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { AddressInfo } from 'node:net';
import { concat, defer, finalize, from, interval, map, merge, type Observable, Subject } from 'rxjs';
import {
  announce,
  Emitter,
  EVENT_NAME,
  HEARTBEAT_MS,
  parseEmitQuery,
  parsePeriodicQuery,
  listenOptions,
  runPeriodic,
  serverStats,
  type ServerStats,
  taskOf,
  taskRegistry,
} from '../common';

interface Task {
  events$: Subject<MessageEvent>;
  history: MessageEvent[];
  emitter: Emitter;
}

let open = 0;

const task = taskRegistry<Task>(() => {
  const events$ = new Subject<MessageEvent>();
  const history: MessageEvent[] = [];
  const emitter = new Emitter({
    event(id, data) {
      const event: MessageEvent = { id: String(id), type: EVENT_NAME, data };
      history.push(event);
      events$.next(event);
    },
  });
  return { events$, history, emitter };
});

const heartbeat$: Observable<MessageEvent> = interval(HEARTBEAT_MS).pipe(
  map((): MessageEvent => ({ comment: '' })),
);

@Controller()
class BenchController {
  @Sse('stream', { maxPendingDataLength: 0 })
  stream(
    @Headers('last-event-id') lastEventId?: string,
    @Query('task') taskParam?: string,
  ): Observable<MessageEvent> {
    const after = Math.max(0, Number(lastEventId ?? 0) || 0);
    const { events$, history } = task(taskOf(taskParam));
    return defer(() => {
      open++;
      return merge(concat(from(history.slice(after)), events$), heartbeat$);
    }).pipe(finalize(() => open--));
  }

  @Get('ready')
  ready(@Query('n') n: string): { open: number } {
    if (open < Number(n ?? 0)) throw new ServiceUnavailableException({ open });
    return { open };
  }

  @Get('stats')
  stats(@Query('gc') gc?: string): ServerStats {
    return serverStats(gc === '1');
  }

  @Post('emit')
  async emit(@Query() query: Record<string, unknown>): Promise<{ emitted: number }> {
    const { count, size } = parseEmitQuery(query);
    const { emitter } = task(0);
    await emitter.emit(count, size);
    return { emitted: emitter.emitted };
  }

  @Post('emit-periodic')
  emitPeriodic(@Query() query: Record<string, unknown>): Promise<{ perTask: number }> {
    return runPeriodic(parsePeriodicQuery(query), (k, pad) => task(k).emitter.one(pad));
  }
}

@Module({ controllers: [BenchController] })
class BenchModule {}

async function main(): Promise<void> {
  const app = await NestFactory.create<NestExpressApplication>(BenchModule, { logger: ['error', 'warn'] });
  // Nest hands a `listen()` options object through to Node (Express) / Fastify as it is; its
  // type only names the port form.
  await app.listen(listenOptions() as unknown as number);
  announce((app.getHttpServer().address() as AddressInfo).port);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
