/**
 * Idle memory per subscriber (issue 14, target 1): server RSS and heap after two `gc()` calls,
 * with N idle SSE streams open, minus the same before they connected, divided by N.
 *
 *   node -r ./scripts/register-ts.js scripts/measure-idle-memory.ts [N ...] [--servers a,b]
 *
 * Defaults: N = 2000 10000, every server below. Each (server, N) pair runs in a fresh server
 * process (`node --expose-gc`, forked from this file with `--serve <kind>`); this process holds
 * the N raw sockets (`node:net`, no EventSource), bound to 127.0.0.2… so ephemeral ports never
 * run short, and reads and discards what they receive (heartbeats included).
 *
 * Servers:
 * - `lib-express`, `lib-fastify`: this library as its users use it (`@Sse() @SseResume()`,
 *   `SseTaskService.stream()`), 100 running tasks, N/100 subscribers each, default options
 *   (heartbeats on) but `maxSubscribersPerTask`;
 * - `nest-express`, `nest-fastify`: a plain Nest `@Sse()` handler returning an Observable that
 *   never emits (Nest's own per-stream cost);
 * - `raw`: node:http writing the same SSE head and a `\n` (the library's `writeSseHead()`),
 *   holding the response.
 *
 * A stream counts as connected once its first bytes arrived (the library's open frame, Nest's
 * head). The numbers depend on Node's allocator and GC: compare servers of the same run.
 */
import 'reflect-metadata';
import { fork } from 'node:child_process';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { writeHeapSnapshot } from 'node:v8';
import { writeSseHead } from '@app/sse-resume/streams/sse-head';

type ServerKind = 'lib-express' | 'lib-fastify' | 'nest-express' | 'nest-fastify' | 'raw';
const ALL_SERVERS: ServerKind[] = ['raw', 'nest-express', 'nest-fastify', 'lib-express', 'lib-fastify'];
const TASKS = 100;

interface Ready {
  port: number;
  /** Request paths to spread the subscribers over (one per task, or one). */
  paths: string[];
}
interface Usage {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

// ---------------------------------------------------------------- server side (child process)

function measureSelf(): Usage {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run the server with --expose-gc');
  gc();
  gc();
  const { rss, heapTotal, heapUsed, external, arrayBuffers } = process.memoryUsage();
  return { rss, heapTotal, heapUsed, external, arrayBuffers };
}

async function serveRaw(): Promise<Ready> {
  // The library's head writer: Nest's SSE head, a newline, the socket tuned for a long stream.
  const server = http.createServer((req, res) => writeSseHead(req, res, 200, undefined));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, paths: ['/stream'] };
}

async function serveNest(fastify: boolean): Promise<Ready> {
  const { Controller, Module, Sse } = await import('@nestjs/common');
  const { NestFactory } = await import('@nestjs/core');
  const { Observable } = await import('rxjs');
  @Controller()
  class StreamController {
    @Sse('stream')
    stream() {
      return new Observable(() => undefined);
    }
  }
  @Module({ controllers: [StreamController] })
  class StreamModule {}
  const app = fastify
    ? await NestFactory.create(StreamModule, await fastifyAdapter(), { logger: ['error', 'warn'] })
    : await NestFactory.create(StreamModule, { logger: ['error', 'warn'] });
  await app.listen(0, '127.0.0.1');
  return { port: (app.getHttpServer().address() as AddressInfo).port, paths: ['/stream'] };
}

async function fastifyAdapter() {
  const { FastifyAdapter } = await import('@nestjs/platform-fastify');
  return new FastifyAdapter();
}

async function serveLibrary(fastify: boolean): Promise<Ready> {
  const { Module } = await import('@nestjs/common');
  const { NestFactory } = await import('@nestjs/core');
  const { ScheduleModule } = await import('@nestjs/schedule');
  const { SseResumeModule, SseTaskService } = await import('../libs/sse-resume/src/index.js');
  // `GET /tasks/:taskId/events`: `@Sse() @SseResume()` returning `SseTaskService.stream()`, as users write it.
  const { TaskStreamController } = await import('../libs/sse-resume/src/testing/stream-controller.js');
  @Module({
    imports: [ScheduleModule.forRoot(), SseResumeModule.forRoot({ maxSubscribersPerTask: 100_000 })],
    controllers: [TaskStreamController],
  })
  class TasksModule {}
  const app = fastify
    ? await NestFactory.create(TasksModule, await fastifyAdapter(), { logger: ['error', 'warn'] })
    : await NestFactory.create(TasksModule, { logger: ['error', 'warn'] });
  await app.listen(0, '127.0.0.1');
  const tasks = app.get(SseTaskService);
  const paths: string[] = [];
  for (let i = 0; i < TASKS; i++) {
    const { taskId, resumeKey } = await tasks.start(
      (context: { signal: AbortSignal }) =>
        new Promise<void>((resolve) => context.signal.addEventListener('abort', () => resolve())),
    );
    paths.push(`/tasks/${taskId}/events?key=${resumeKey}`);
  }
  return { port: (app.getHttpServer().address() as AddressInfo).port, paths };
}

async function serve(kind: ServerKind): Promise<void> {
  const ready =
    kind === 'raw'
      ? await serveRaw()
      : kind.startsWith('nest-')
        ? await serveNest(kind === 'nest-fastify')
        : await serveLibrary(kind === 'lib-fastify');
  process.on('message', (message: string) => {
    if (message === 'measure') process.send!({ usage: measureSelf() });
    if (message === 'exit') process.exit(0);
    if (message === 'snapshot') process.send!({ snapshot: writeHeapSnapshot() });
  });
  process.send!({ ready });
}

// ---------------------------------------------------------------- client side (this process)

function connect(port: number, path: string, localAddress: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
    });
    socket.once('data', (data) => {
      if (!data.toString('latin1').startsWith('HTTP/1.1 200')) {
        reject(new Error(`unexpected answer: ${data.toString('latin1').slice(0, 200)}`));
        return;
      }
      socket.off('error', reject);
      socket.on('data', () => undefined); // heartbeats, read and dropped
      socket.on('error', () => undefined);
      resolve(socket);
    });
  });
}

async function openStreams(port: number, paths: string[], n: number): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  const inFlight = 100;
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const address = `127.0.0.${2 + (i % 8)}`;
      sockets.push(await connect(port, paths[i % paths.length]!, address));
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return sockets;
}

function ask<T>(child: ReturnType<typeof fork>, message: string, key: string): Promise<T> {
  return new Promise((resolve) => {
    const listener = (reply: Record<string, unknown>) => {
      if (key in reply) {
        child.off('message', listener);
        resolve(reply[key] as T);
      }
    };
    child.on('message', listener);
    if (message) child.send(message);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function measure(kind: ServerKind, n: number): Promise<Record<string, string | number>> {
  const child = fork(__filename, ['--serve', kind], {
    execArgv: ['--expose-gc', '-r', require.resolve('./register-ts.js')],
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
  });
  try {
    const ready = await ask<Ready>(child, '', 'ready');
    await sleep(500);
    const before = await ask<Usage>(child, 'measure', 'usage');
    if (process.env.SNAPSHOT) console.log(await ask<string>(child, 'snapshot', 'snapshot'));
    const sockets = await openStreams(ready.port, ready.paths, n);
    await sleep(2000);
    const after = await ask<Usage>(child, 'measure', 'usage');
    if (process.env.SNAPSHOT) console.log(await ask<string>(child, 'snapshot', 'snapshot'));
    for (const socket of sockets) socket.destroy();
    const kib = (bytes: number) => Math.round((bytes / n / 1024) * 10) / 10;
    return {
      server: kind,
      n,
      rssKiB: kib(after.rss - before.rss),
      heapKiB: kib(after.heapUsed - before.heapUsed),
      heapTotalKiB: kib(after.heapTotal - before.heapTotal),
      externalKiB: kib(after.external - before.external),
    };
  } finally {
    child.send('exit');
    await new Promise((resolve) => child.once('exit', resolve));
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const serveAt = args.indexOf('--serve');
  if (serveAt >= 0) return serve(args[serveAt + 1] as ServerKind);
  const serversAt = args.indexOf('--servers');
  const servers = serversAt >= 0 ? (args[serversAt + 1]!.split(',') as ServerKind[]) : ALL_SERVERS;
  const counts = args
    .filter((arg, i) => /^\d+$/.test(arg) && (serversAt < 0 || i !== serversAt + 1))
    .map(Number);
  for (const n of counts.length ? counts : [2000, 10_000]) {
    for (const server of servers) console.log(JSON.stringify(await measure(server, n)));
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
