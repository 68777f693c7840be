/**
 * The tiny contract every contender serves, and what the servers share to honour it.
 *
 * - `GET /stream`: SSE; events `event: progress`, `id: N`, `data: {"i":N,"t":<ms>,"p":"xx…"}`;
 *   resumes after `Last-Event-ID` (no header = from the first retained event).
 * - `GET /ready?n=N`: 200 once N streams are open, else 503.
 * - `POST /emit?count=E&size=S`: publishes E events of about S bytes, 100 per `setImmediate`
 *   turn, ids continuing 1, 2, 3 ...; answers once all E are published.
 * - `GET /stats[?gc=1]`: CPU time, memory, peak RSS of the server process (JSON).
 * - `GET /stream?task=K` (K = 0 … 99): the same stream of task K (workloads e, f, g); no `task`
 *   = task 0, the task of `POST /emit`. Each task has its own ids 1, 2, 3 …
 * - `POST /emit-periodic?tasks=T&rate=R&seconds=S&size=B`: tasks 0 … T-1 each emit one event
 *   every 1000/R ms (task k's timer starts k/T of a period later, so the tasks do not tick
 *   together) until each has emitted round(R x S) events; answers then (`{"perTask":n}`).
 * - Every stream gets a heartbeat comment frame every {@link HEARTBEAT_MS} (`BENCH_HEARTBEAT_MS`,
 *   default 15 000 = the library's default `heartbeatMs`).
 *
 * A server prints `BENCH_LISTENING <port>` once it listens on 127.0.0.1, or
 * `BENCH_UNSUPPORTED <reason>` and exits with {@link EXIT_UNSUPPORTED}.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';

export const EVENTS_PER_TURN = 100;
export const EVENT_NAME = 'progress';
export const EXIT_UNSUPPORTED = 3;
/** The heartbeat period of every contender (the library's default `heartbeatMs`). */
export const HEARTBEAT_MS = Number(process.env.BENCH_HEARTBEAT_MS ?? 15_000);
/** The heartbeat the hand-written servers write: an SSE comment frame. */
export const HEARTBEAT_FRAME = ':\n\n';
/** The SSE head of the hand-written servers (same headers the Nest ones send, minus Nest's extras). */
export const SSE_HEADERS = {
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'no-cache, no-transform',
  Connection: 'keep-alive',
  'X-Accel-Buffering': 'no',
} as const;

/** Milliseconds on a clock shared by every process of the machine (epoch origin + monotonic). */
export function clockMs(): number {
  return performance.timeOrigin + performance.now();
}

export interface Payload {
  i: number;
  t: number;
  p: string;
}

/** Overhead of `{"i":N,"t":T,"p":""}` with a 6-digit id and a 17-digit clock reading. */
const PAYLOAD_OVERHEAD = 40;

export function padFor(size: number): string {
  return 'x'.repeat(Math.max(0, size - PAYLOAD_OVERHEAD));
}

export function payload(id: number, pad: string): Payload {
  return { i: id, t: clockMs(), p: pad };
}

/** The frame the hand-written servers write (same bytes as the library's). */
export function frameOf(id: number, json: string): string {
  return `event: ${EVENT_NAME}\nid: ${id}\ndata: ${json}\n\n`;
}

export interface EmitSink {
  /** One event; `id` continues across calls. */
  event(id: number, data: Payload): void;
  /** After each turn's events (at most {@link EVENTS_PER_TURN}). */
  turnEnd?(): void;
}

/**
 * Publishes `count` events, {@link EVENTS_PER_TURN} per turn of the event loop. One
 * emission at a time: a second request waits for the first. Ids continue 1, 2, 3 ...
 */
export class Emitter {
  private lastId = 0;
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly sink: EmitSink) {}

  get emitted(): number {
    return this.lastId;
  }

  /** One event now (the periodic emitter's tick), outside the turn-batched `emit` chain. */
  one(pad: string): void {
    const id = ++this.lastId;
    this.sink.event(id, payload(id, pad));
    this.sink.turnEnd?.();
  }

  emit(count: number, size: number): Promise<void> {
    const run = this.chain.then(() => this.run(count, size));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async run(count: number, size: number): Promise<void> {
    const pad = padFor(size);
    let left = count;
    while (left > 0) {
      const n = Math.min(EVENTS_PER_TURN, left);
      for (let k = 0; k < n; k++) {
        const id = ++this.lastId;
        this.sink.event(id, payload(id, pad));
      }
      this.sink.turnEnd?.();
      left -= n;
      if (left > 0) await nextTurn();
    }
  }
}

export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export interface EmitQuery {
  count: number;
  size: number;
}

export function parseEmitQuery(query: URLSearchParams | Record<string, unknown>): EmitQuery {
  const get = (name: string): unknown => (query instanceof URLSearchParams ? query.get(name) : query[name]);
  const count = Number(get('count'));
  const size = Number(get('size') ?? 100);
  if (!Number.isInteger(count) || count < 0 || !Number.isInteger(size) || size < 0) {
    throw new Error('count and size must be non-negative integers');
  }
  return { count, size };
}

export interface PeriodicQuery {
  tasks: number;
  rate: number;
  seconds: number;
  size: number;
}

export function parsePeriodicQuery(query: URLSearchParams | Record<string, unknown>): PeriodicQuery {
  const get = (name: string): unknown => (query instanceof URLSearchParams ? query.get(name) : query[name]);
  const tasks = Number(get('tasks') ?? 100);
  const rate = Number(get('rate') ?? 10);
  const seconds = Number(get('seconds'));
  const size = Number(get('size') ?? 100);
  if (!Number.isInteger(tasks) || tasks < 1 || tasks > MAX_TASKS)
    throw new Error(`tasks must be 1 … ${MAX_TASKS}`);
  if (!(rate > 0 && rate <= 1000) || !(seconds > 0) || !Number.isInteger(size) || size < 0) {
    throw new Error('rate (0 … 1000], seconds > 0 and size ≥ 0 are required');
  }
  return { tasks, rate, seconds, size };
}

/** Tasks a server serves (`?task=0` … `?task=99`). */
export const MAX_TASKS = 100;

/** The `task` query parameter of a stream request: 0 … MAX_TASKS-1 (absent or invalid = 0). */
export function taskOf(query: URLSearchParams | string | undefined | null): number {
  const value = typeof query === 'string' || query == null ? query : query.get('task');
  const task = Number(value ?? 0);
  return Number.isInteger(task) && task >= 0 && task < MAX_TASKS ? task : 0;
}

/**
 * The periodic emitter of workloads (f) and (g): task k (0 … tasks-1) emits its n-th event
 * through `emitOne(k, pad)` at start + (k/tasks + n) periods (period = 1000/rate ms), so the
 * tasks spread over the period; each timer aims at the next due time, so a late tick does not
 * lower the rate (a tick that is late by more than a period emits what is due at once).
 * Resolves once each task has emitted round(rate x seconds) events.
 */
export function runPeriodic(
  query: PeriodicQuery,
  emitOne: (task: number, pad: string) => void,
): Promise<{ perTask: number }> {
  const perTask = Math.max(1, Math.round(query.rate * query.seconds));
  const period = 1000 / query.rate;
  const pad = padFor(query.size);
  const start = performance.now();
  let running = query.tasks;
  return new Promise((resolve) => {
    for (let task = 0; task < query.tasks; task++) {
      let sent = 0;
      const dueAt = (n: number) => start + (task / query.tasks + n) * period;
      const tick = () => {
        const now = performance.now();
        while (sent < perTask && dueAt(sent) <= now) {
          emitOne(task, pad);
          sent++;
        }
        if (sent < perTask) setTimeout(tick, Math.max(0, dueAt(sent) - performance.now()));
        else if (--running === 0) resolve({ perTask });
      };
      setTimeout(tick, dueAt(0) - start);
    }
  });
}

/** `Last-Event-ID` as a number (0 when absent or malformed). */
export function lastEventIdOf(headers: IncomingMessage['headers']): number {
  const value = headers['last-event-id'];
  const id = typeof value === 'string' ? Number(value) : 0;
  return Number.isSafeInteger(id) && id > 0 ? id : 0;
}

export interface ServerStats {
  pid: number;
  cpuUserUs: number;
  cpuSystemUs: number;
  rss: number;
  heapUsed: number;
  external: number;
  /** VmHWM: the process's peak RSS so far, bytes (0 where /proc is missing). */
  peakRss: number;
  /** The process's soft limit of open files (`ulimit -n`; 0 where /proc is missing). */
  fdLimit: number;
}

const gc = (globalThis as { gc?: () => void }).gc;

export function serverStats(runGc: boolean): ServerStats {
  if (runGc && gc) {
    gc();
    gc();
  }
  const cpu = process.cpuUsage();
  const memory = process.memoryUsage();
  return {
    pid: process.pid,
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    external: memory.external,
    peakRss: procStatusBytes(process.pid, 'VmHWM'),
    fdLimit: fdLimit(),
  };
}

/** The soft `Max open files` limit of this process (0 when /proc is missing). */
export function fdLimit(): number {
  try {
    const match = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

/** A `kB` field of /proc/<pid>/status, in bytes; 0 when unavailable. */
export function procStatusBytes(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** `parse()`, or undefined after answering 400 with its error. */
function parsedOr400<T>(res: ServerResponse, parse: () => T): T | undefined {
  try {
    return parse();
  } catch (err) {
    res.writeHead(400).end(String(err));
    return undefined;
  }
}

/**
 * `GET /ready`, `GET /stats`, `POST /emit` (task 0) and, given `taskEmitter`, `POST /emit-periodic`
 * for the node:http servers. Returns false for other routes.
 */
export function handleControl(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  control: { open(): number; emitter: Emitter; taskEmitter?: (task: number) => Emitter },
): boolean {
  if (req.method === 'GET' && url.pathname === '/ready') {
    const wanted = Number(url.searchParams.get('n') ?? 0);
    const open = control.open();
    res.writeHead(open >= wanted ? 200 : 503, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ open }));
    return true;
  }
  if (req.method === 'GET' && url.pathname === '/stats') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(serverStats(url.searchParams.get('gc') === '1')));
    return true;
  }
  if (req.method === 'POST' && url.pathname === '/emit') {
    const query = parsedOr400(res, () => parseEmitQuery(url.searchParams));
    if (!query) return true;
    req.resume();
    control.emitter.emit(query.count, query.size).then(
      () =>
        res
          .writeHead(200, { 'Content-Type': 'application/json' })
          .end(JSON.stringify({ emitted: control.emitter.emitted })),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
    return true;
  }
  const taskEmitter = control.taskEmitter;
  if (req.method === 'POST' && url.pathname === '/emit-periodic' && taskEmitter) {
    const query = parsedOr400(res, () => parsePeriodicQuery(url.searchParams));
    if (!query) return true;
    req.resume();
    void runPeriodic(query, (task, pad) => taskEmitter(task).one(pad)).then((done) =>
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(done)),
    );
    return true;
  }
  return false;
}

/** Prints the line the harness waits for, and exits cleanly on SIGTERM (so `--cpu-prof` writes its profile). */
export function announce(port: number, onExit?: () => Promise<void>): void {
  process.stdout.write(`BENCH_LISTENING ${port}\n`);
  const exit = () => {
    const done = onExit ? onExit().catch(() => undefined) : Promise.resolve();
    void done.then(() => process.exit(0));
    setTimeout(() => process.exit(0), 2_000).unref();
  };
  process.once('SIGTERM', exit);
  process.once('SIGINT', exit);
}

export function unsupported(reason: string): never {
  process.stdout.write(`BENCH_UNSUPPORTED ${reason}\n`);
  process.exit(EXIT_UNSUPPORTED);
}

/** Resolves once `res` can take more data or is gone. */
export function drained(res: ServerResponse): Promise<void> {
  if (res.destroyed || !res.writableNeedDrain) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

export function portFromEnv(): number {
  return Number(process.env.PORT ?? 0);
}

/**
 * The listen backlog of every server: 4096 (Linux caps it at `net.core.somaxconn`, 4096 here)
 * instead of Node's default 511. With 511, the 10 000 reconnects of the storm (g) overflow the
 * accept queue, Linux drops handshakes, and clients wait in TCP retransmission backoff for up to
 * a minute: what would be measured is the kernel's backoff, not the server. A server expecting
 * reconnect storms raises it; every contender gets the same.
 */
export const LISTEN_BACKLOG = 4096;

/** `server.listen()` options of every contender: PORT, 127.0.0.1, {@link LISTEN_BACKLOG}. */
export function listenOptions(): { port: number; host: string; backlog: number } {
  return { port: portFromEnv(), host: '127.0.0.1', backlog: LISTEN_BACKLOG };
}

/** Latency histogram in 0.1 ms buckets (sparse; JSON-friendly: bucket → count), merged across client processes. */
export type LatencyHistogram = Record<string, number>;

export const HISTOGRAM_BUCKET_MS = 0.1;

export function histogramAdd(histogram: Map<number, number>, ms: number): void {
  const bucket = Math.max(0, Math.floor(ms / HISTOGRAM_BUCKET_MS));
  histogram.set(bucket, (histogram.get(bucket) ?? 0) + 1);
}

/** p50 / p99 / max (upper bucket edges) and sample count of merged histograms; null when empty. */
export function histogramSummary(
  histograms: readonly LatencyHistogram[],
): { p50: number; p99: number; max: number; samples: number } | null {
  const merged = new Map<number, number>();
  for (const h of histograms)
    for (const [bucket, count] of Object.entries(h))
      merged.set(Number(bucket), (merged.get(Number(bucket)) ?? 0) + count);
  const buckets = [...merged.keys()].sort((a, b) => a - b);
  const samples = [...merged.values()].reduce((a, b) => a + b, 0);
  if (samples === 0) return null;
  const at = (q: number): number => {
    const rank = Math.min(samples, Math.floor(q * samples) + 1);
    let seen = 0;
    for (const b of buckets) {
      seen += merged.get(b)!;
      if (seen >= rank) return (b + 1) * HISTOGRAM_BUCKET_MS;
    }
    return (buckets[buckets.length - 1]! + 1) * HISTOGRAM_BUCKET_MS;
  };
  return { p50: at(0.5), p99: at(0.99), max: at(1), samples };
}

/** The stream path of subscriber `index` when streams are spread over `tasks` tasks (task = index mod tasks). */
export function streamPath(index: number, tasks: number | undefined): string {
  return tasks && tasks > 0 ? `/stream?task=${index % tasks}` : '/stream';
}

/** The hand-written servers' tasks: `task(k)` gives task k's state, made by `make` on first use. */
export function taskRegistry<T>(make: () => T): (k: number) => T {
  const tasks = new Map<number, T>();
  return (k) => {
    let found = tasks.get(k);
    if (!found) tasks.set(k, (found = make()));
    return found;
  };
}
