/**
 * The cost of the library's OpenTelemetry metrics on fan-out (issue 12): the same workload
 * with metrics on and off, alternately, several rounds, in a fresh server process each run.
 *
 *   node -r ./scripts/register-ts.js scripts/measure-metrics-overhead.ts [--rounds 8]
 *     [--subscribers 500] [--events 5000] [--size 100] [--sequential] [--modes on,off]
 *
 * Workload: the library in a child process (Express, memory store, an `@SseResume()` route as
 * in the example app); one task; `--subscribers` streams open on it; then the task emits
 * `--events` events of about `--size` bytes, 100 per turn of the event loop (emits not
 * awaited, as in `npm run bench`), and ends. Measured from the first emit until every
 * subscriber has read the `end` event: the server's CPU time (`process.cpuUsage()`, user +
 * system) and the wall time; throughput = subscribers x events / wall time. Each round runs
 * an "on" and an "off" server at the same time (each with its own clients), so both meet the
 * same load from the rest of the machine; `--sequential` runs them one after the other.
 *
 * "on" is the example app's set-up (`src/metrics/app-metrics.ts`: an SDK `MeterProvider`
 * with a `PrometheusExporter` reader, its meter passed as `metrics: { meter }`; one scrape
 * after the run checks the counts); "off" is `metrics: false`. The figure is the median over
 * rounds of each round's on/off ratio; `--modes off,off` runs the same comparison between two
 * identical servers, to see the machine's noise. The clients run in this process, so wall
 * time is noisier than server CPU. Also printed: what metrics add per stored event, measured
 * in this process without subscribers.
 */
import 'reflect-metadata';
import {
  Controller,
  Get,
  HttpCode,
  Inject,
  Injectable,
  type MessageEvent,
  Module,
  Param,
  Post,
  Query,
  Sse,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ScheduleModule } from '@nestjs/schedule';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import type { Observable } from 'rxjs';
import {
  LastEventId,
  ResumeKey,
  SseResume,
  SseResumeModule,
  type SseResumeMetricsOptions,
  SseTaskService,
  type TaskContext,
} from '@app/sse-resume';
import { OtelSseResumeMetrics } from '@app/sse-resume/metrics/otel-metrics';
import { NOOP_METRICS } from '@app/sse-resume/metrics/sse-resume-metrics';
import { resolveOptions } from '@app/sse-resume/sse-resume.options';
import { InMemoryTaskStore } from '@app/sse-resume/stores/in-memory/in-memory-task-store';
import { AppMetrics } from '../src/metrics/app-metrics';

type Mode = 'on' | 'off';
const EVENTS_PER_TURN = 100;

function arg(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  const value = index >= 0 ? Number(process.argv[index + 1]) : fallback;
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
  return value;
}

// ---------------------------------------------------------------- server (child process)

/** The one task: waits for `go`, then emits. */
@Injectable()
class FanOutTask {
  private release: ((count: number) => void) | undefined;
  private readonly gate = new Promise<number>((resolve) => (this.release = resolve));
  started: { taskId: string; resumeKey: string } | undefined;
  cpuAtGo: NodeJS.CpuUsage | undefined;

  constructor(@Inject(SseTaskService) private readonly tasks: SseTaskService) {}

  async start(size: number): Promise<{ taskId: string; resumeKey: string }> {
    this.started = await this.tasks.start((context) => this.run(context, 'x'.repeat(Math.max(0, size - 20))));
    return this.started;
  }

  go(count: number): void {
    this.cpuAtGo = process.cpuUsage();
    this.release?.(count);
  }

  private async run(context: TaskContext, pad: string): Promise<number> {
    const count = await this.gate;
    let last: Promise<number> | undefined;
    for (let i = 1; i <= count; i++) {
      last = context.emit({ i, p: pad });
      if (i % EVENTS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await last;
    return count;
  }
}

@Controller()
class FanOutController {
  constructor(
    @Inject(SseTaskService) private readonly tasks: SseTaskService,
    @Inject(FanOutTask) private readonly task: FanOutTask,
  ) {}

  @Post('start')
  @HttpCode(200)
  start(@Query('size') size: string): Promise<{ taskId: string; resumeKey: string }> {
    return this.task.start(Number(size));
  }

  @Get('open')
  open(): { open: number } {
    return { open: this.tasks.stats.openStreams };
  }

  @Post('go')
  @HttpCode(200)
  go(@Query('count') count: string): { ok: true } {
    this.task.go(Number(count));
    return { ok: true };
  }

  /** CPU time since `go`, in ms. */
  @Get('cpu')
  cpu(): { cpuMs: number } {
    const used = process.cpuUsage(this.task.cpuAtGo);
    return { cpuMs: (used.user + used.system) / 1000 };
  }

  @Sse('tasks/:taskId/events')
  @SseResume()
  events(
    @Param('taskId') taskId: string,
    @ResumeKey() resumeKey: string | undefined,
    @LastEventId() lastEventId: number | undefined,
  ): Observable<MessageEvent> {
    return this.tasks.stream(taskId, { resumeKey, lastEventId });
  }
}

async function serve(mode: Mode): Promise<void> {
  const metrics = mode === 'on' ? new AppMetrics() : undefined;
  const option: SseResumeMetricsOptions = metrics ? { meter: metrics.meter } : false;

  @Controller()
  class ScrapeController {
    @Get('metrics')
    scrape(): Promise<string> | string {
      return metrics ? metrics.scrape() : '';
    }
  }

  @Module({
    imports: [
      ScheduleModule.forRoot(),
      SseResumeModule.forRoot({
        metrics: option,
        historyLimit: 1_000_000,
        historyBytes: 1024 * 1024 * 1024,
        maxSubscribersPerTask: 100_000,
        maxPendingBytes: 256 * 1024 * 1024,
        slowConsumerTimeoutMs: 600_000,
      }),
    ],
    controllers: [FanOutController, ScrapeController],
    providers: [FanOutTask],
  })
  class FanOutModule {}

  process.once('SIGTERM', () => process.exit(0));
  const app = await NestFactory.create(FanOutModule, { logger: ['error', 'warn'] }); // a dropped stream would say why
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  console.log(`LISTENING ${port}`);
}

// ---------------------------------------------------------------- harness (this process)

interface RunResult {
  mode: Mode;
  cpuMs: number;
  wallMs: number;
  /** Events delivered to all subscribers per second. */
  throughput: number;
}

function call(port: number, method: string, path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Opens a stream; resolves `ended` once its `end` event arrived. */
function subscribe(port: number, path: string, key: string): Promise<{ ended: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        headers: { Accept: 'text/event-stream', 'x-resume-key': key },
        agent: false,
      },
      (res: IncomingMessage) => {
        if (res.statusCode !== 200) return reject(new Error(`stream answered ${res.statusCode}`));
        let tail = '';
        const ended = new Promise<void>((done, failed) => {
          res.on('data', (chunk: Buffer) => {
            const text = tail + chunk.toString('latin1');
            if (text.includes('event: end\n')) done();
            tail = text.slice(-16); // a frame split across chunks
          });
          res.on('close', () => failed(new Error('stream closed before its end event')));
        });
        ended.catch(() => undefined);
        resolve({ ended });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function startServer(mode: Mode): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(
    process.execPath,
    [
      // CPU_PROF_DIR=<dir>: each server writes a .cpuprofile there (bench/profile-summary.ts reads them).
      ...(process.env.CPU_PROF_DIR
        ? ['--cpu-prof', `--cpu-prof-dir=${process.env.CPU_PROF_DIR}/${mode}`]
        : []),
      ...['-r', require.resolve('./register-ts.js'), __filename, '--server', mode],
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const lines = createInterface({ input: child.stdout });
  for await (const line of lines) {
    const match = /^LISTENING (\d+)$/.exec(line);
    if (match) return { child, port: Number(match[1]) };
  }
  throw new Error(`the ${mode} server exited before listening`);
}

interface Prepared {
  mode: Mode;
  child: ChildProcess;
  port: number;
  streams: { ended: Promise<void> }[];
}

/** A server of `mode` with its task started and `subscribers` streams open on it. */
async function prepare(mode: Mode, subscribers: number, size: number): Promise<Prepared> {
  const { child, port } = await startServer(mode);
  try {
    const { taskId, resumeKey } = JSON.parse((await call(port, 'POST', `/start?size=${size}`)).body) as {
      taskId: string;
      resumeKey: string;
    };
    const streams = [];
    for (let i = 0; i < subscribers; i++)
      streams.push(await subscribe(port, `/tasks/${taskId}/events`, resumeKey));
    while ((JSON.parse((await call(port, 'GET', '/open')).body) as { open: number }).open < subscribers) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return { mode, child, port, streams };
  } catch (err) {
    await stop(child);
    throw err;
  }
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = once(child, 'exit');
  child.kill('SIGTERM'); // exits at once (and writes its CPU profile if asked to)
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Lets the task emit and waits until every subscriber has the end. */
async function measure(server: Prepared, subscribers: number, events: number): Promise<RunResult> {
  const { mode, port, streams } = server;
  const start = performance.now();
  await call(port, 'POST', `/go?count=${events}`);
  await Promise.all(streams.map((s) => s.ended));
  const wallMs = performance.now() - start;
  const { cpuMs } = JSON.parse((await call(port, 'GET', '/cpu')).body) as { cpuMs: number };
  if (mode === 'on') {
    const scraped = (await call(port, 'GET', '/metrics')).body;
    const emitted = /^sse_resume_events_emitted_total\{[^}]*\} (\d+)$/m.exec(scraped)?.[1];
    if (Number(emitted) !== events)
      throw new Error(`metrics on: events emitted ${emitted}, expected ${events}`);
  }
  return { mode, cpuMs, wallMs, throughput: (subscribers * events) / (wallMs / 1000) };
}

/**
 * One round. Default: both servers prepared, then both workloads at the same moment, so that
 * both meet the same load from the rest of the machine (then both are paced by the clients
 * in this process: wall time and throughput come out equal, only CPU time tells). With
 * `--sequential`: one after the other, each alone with the clients (throughput compares).
 */
async function round(modes: [Mode, Mode], subscribers: number, events: number, size: number) {
  const results: RunResult[] = [];
  const servers: Prepared[] = [];
  try {
    if (process.argv.includes('--sequential')) {
      for (const mode of modes) {
        const server = await prepare(mode, subscribers, size);
        servers.push(server);
        results.push(await measure(server, subscribers, events));
        await stop(server.child);
      }
    } else {
      for (const mode of modes) servers.push(await prepare(mode, subscribers, size));
      results.push(...(await Promise.all(servers.map((server) => measure(server, subscribers, events)))));
    }
    return { a: results[0]!, b: results[1]! };
  } finally {
    await Promise.all(
      servers.filter((server) => server.child.exitCode === null).map((server) => stop(server.child)),
    );
  }
}

/**
 * What metrics add per stored event, without subscribers: a task emitting `events` events
 * (100 per turn, not awaited) through a service built by hand, in this process. Returns the
 * CPU time per event, in µs.
 */
async function emitCost(mode: Mode, events: number, size: number): Promise<number> {
  const options = resolveOptions({ historyLimit: 1_000_000, historyBytes: 1024 * 1024 * 1024 });
  const metrics = mode === 'on' ? new OtelSseResumeMetrics(new AppMetrics().meter) : NOOP_METRICS;
  const service = new SseTaskService(new InMemoryTaskStore({ ...options, maxTasks: 10 }), options, metrics);
  const pad = 'x'.repeat(Math.max(0, size - 20));
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const before = process.cpuUsage();
  await service.start(async (context) => {
    let last: Promise<number> | undefined;
    for (let i = 1; i <= events; i++) {
      last = context.emit({ i, p: pad });
      if (i % EVENTS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await last;
    done();
  });
  await finished;
  const used = process.cpuUsage(before);
  await service.beforeApplicationShutdown();
  await service.onApplicationShutdown();
  return (used.user + used.system) / events;
}

function swap<T>({ a, b }: { a: T; b: T }): { a: T; b: T } {
  return { a: b, b: a };
}

function geometricMean(values: number[]): number {
  return Math.exp(values.reduce((sum, v) => sum + Math.log(v), 0) / values.length);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const pct = (ratio: number) => `${ratio >= 1 ? '+' : ''}${((ratio - 1) * 100).toFixed(1)} %`;

async function main(): Promise<void> {
  const rounds = arg('rounds', 8);
  const subscribers = arg('subscribers', 500);
  const events = arg('events', 5000);
  const size = arg('size', 100);
  const modesAt = process.argv.indexOf('--modes');
  // `--modes off,off` (or on,on) measures the noise of the machine: an A/A comparison.
  const [first, second] = (modesAt >= 0 ? process.argv[modesAt + 1]! : 'on,off').split(',') as [Mode, Mode];

  const perEvent: Record<Mode, number[]> = { on: [], off: [] };
  for (let i = 0; i < 7; i++) {
    for (const mode of ['on', 'off'] as const) perEvent[mode].push(await emitCost(mode, 50_000, size));
  }
  const [onUs, offUs] = [median(perEvent.on.slice(2)), median(perEvent.off.slice(2))]; // 2 warm-ups
  console.log(
    `per stored event, no subscribers (in process): on ${onUs.toFixed(2)} µs, off ${offUs.toFixed(2)} µs CPU: ` +
      `metrics add ${(onUs - offUs).toFixed(2)} µs per event`,
  );
  console.log(
    `fan-out: 1 task, ${subscribers} subscribers, ${events} events of ~${size} B, memory store; ` +
      `${rounds} rounds, a ${first} and an ${second} server ` +
      (process.argv.includes('--sequential') ? 'one after the other' : 'at the same time'),
  );
  await round(['off', 'off'], subscribers, Math.min(events, 500), size); // warm-up (disk cache)
  const cpuRatios: number[] = [];
  const throughputRatios: number[] = [];
  const all: RunResult[] = [];
  for (let n = 1; n <= rounds; n++) {
    // Which server is prepared (and so started) first alternates.
    const results =
      n % 2
        ? await round([first, second], subscribers, events, size)
        : swap(await round([second, first], subscribers, events, size));
    const a = results.a;
    const b = results.b;
    all.push(a, b);
    cpuRatios.push(a.cpuMs / b.cpuMs);
    throughputRatios.push(a.throughput / b.throughput);
    const line = (r: RunResult) =>
      `${r.mode} cpu ${r.cpuMs.toFixed(0)} ms, wall ${r.wallMs.toFixed(0)} ms, ${(r.throughput / 1e6).toFixed(2)} M ev/s`;
    console.log(`round ${n}: ${line(a)} | ${line(b)}`);
  }
  /** Median over the runs of the first (0) or second (1) mode. */
  const med = (slot: 0 | 1, key: 'cpuMs' | 'throughput') =>
    median(all.filter((_, i) => i % 2 === slot).map((r) => r[key]));
  const ratio = `${first}/${second}`;
  console.log(
    `median server CPU: ${first} ${med(0, 'cpuMs').toFixed(0)} ms, ${second} ${med(1, 'cpuMs').toFixed(0)} ms; ` +
      `per-round ${ratio} ratios: median ${median(cpuRatios).toFixed(3)} (${pct(median(cpuRatios))}), ` +
      `geometric mean ${geometricMean(cpuRatios).toFixed(3)} (${pct(geometricMean(cpuRatios))})`,
  );
  console.log(
    `median throughput: ${first} ${(med(0, 'throughput') / 1e6).toFixed(2)}, ` +
      `${second} ${(med(1, 'throughput') / 1e6).toFixed(2)} M events/s; ` +
      `per-round ${ratio} ratios: median ${median(throughputRatios).toFixed(3)} (${pct(median(throughputRatios))})`,
  );
  const perEventCpu = (med(1, 'cpuMs') * 1000) / events;
  console.log(
    `fan-out server CPU per event: ${perEventCpu.toFixed(0)} µs; what metrics add per event (above) is ` +
      `${(((onUs - offUs) / perEventCpu) * 100).toFixed(2)} % of it`,
  );
}

const serverAt = process.argv.indexOf('--server');
if (serverAt >= 0) {
  void serve(process.argv[serverAt + 1] === 'on' ? 'on' : 'off');
} else {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
