/**
 * The load client: a separate Node process that opens N SSE connections (raw HTTP/1.1 on
 * node:net, one socket each; chunked bodies decoded per TCP read, so a server that writes
 * once per event costs the client no more per event than one that batches), parses the frames, checks that every subscriber gets every
 * id exactly once and in order, and measures delivery latency from the `t` each event
 * carries (both processes read `performance.timeOrigin + performance.now()`).
 *
 * Run by the harness: `node client.js '<ClientJob JSON>'`; prints one line
 * `BENCH_RESULT <ClientResult JSON>`.
 */
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import {
  clockMs,
  fdLimit,
  histogramAdd,
  type LatencyHistogram,
  type ServerStats,
  streamPath,
} from './common';

/**
 * live / replay / idle: the whole run in this process. periodic (f) and storm (g): one of several
 * client processes driven by the harness (run.ts): it opens its share of the streams, prints
 * `BENCH_CONNECTED`, (storm) drops and reopens them all when it reads `cut` on stdin, and prints
 * its result once every stream has all `events` (the server's periodic emitter sends them).
 */
export type ClientMode = 'live' | 'replay' | 'idle' | 'periodic' | 'storm';

export interface ClientJob {
  port: number;
  mode: ClientMode;
  subscribers: number;
  /** Events per subscriber (live, and per task for periodic / storm), backlog size (replay); unused for idle. */
  events: number;
  size: number;
  timeoutMs: number;
  /** Streams spread over this many tasks (`/stream?task=K`, K = (offset + i) mod tasks); none = `/stream`. */
  tasks?: number;
  /** Index of this process's first stream among all client processes'. */
  offset?: number;
  /** Source address of every socket (127.x.y.z), so several processes and runs use separate port ranges. */
  localAddress?: string;
}

/** What one storm client process saw around the cut (times in ms from its cut). */
export interface StormSummary {
  /** Per stream: cut → its reconnect answered 200 (sorted). */
  reconnectMs: number[];
  /** Per stream: cut → its first event after resuming (sorted). */
  liveMs: number[];
  /** Refusals by status: `429`, `503` (with Retry-After), `other` (no Retry-After or another status). */
  refusals: Record<string, number>;
  /** Connection errors while reconnecting (retried after a jittered backoff, as head timeouts). */
  connectErrors: number;
  /** Reconnects without a response head in time ({@link HEAD_TIMEOUT_MS}), destroyed and retried. */
  headTimeouts: number;
}

/**
 * A storm reconnect that has no response head after this long (doubling per attempt) is dropped
 * and retried after a random wait of up to min(8 s, 250 ms x 2^attempt) ("full jitter"): when
 * 10 000 connects arrive at once the listen backlog (511, Node's and Nest's default) overflows,
 * Linux drops the handshake's last ACK, and such a socket can wait for retransmissions for a
 * minute or hang (the client believes it is connected). Retrying without the jitter only repeats
 * the storm. The count is reported.
 */
const HEAD_TIMEOUT_MS = 5_000;
const BACKOFF_BASE_MS = 250;
const BACKOFF_MAX_MS = 8_000;

class HeadTimeout extends Error {}

export interface LatencySummary {
  p50: number;
  p99: number;
  max: number;
  samples: number;
}

export interface IdleSummary {
  rssBefore: number;
  rssAfter: number;
  heapBefore: number;
  heapAfter: number;
  rssPerSubscriber: number;
  heapPerSubscriber: number;
  connectMs: number;
}

export interface ClientResult {
  ok: boolean;
  error?: string;
  mode: ClientMode;
  subscribers: number;
  events: number;
  /** Events received by all subscribers together during the measured window. */
  delivered: number;
  wallMs: number;
  eventsPerSec: number;
  /** SSE body bytes received during the measured window. */
  bytes: number;
  mbPerSec: number;
  latency: LatencySummary | null;
  serverCpuMs: number;
  clientCpuMs: number;
  idle?: IdleSummary;
  /** periodic / storm: delivery latency histogram (merged by the harness). */
  histogram?: LatencyHistogram;
  /** periodic / storm: events every stream should have had, summed. */
  expected?: number;
  /** Ids received again (not counted in `delivered`) / ids skipped, over all streams. */
  duplicates?: number;
  gaps?: number;
  storm?: StormSummary;
  /** This process's `ulimit -n` (merged: the lowest of the client processes'). */
  fdLimit?: number;
  /** periodic / storm: when the last stream completed (clockMs). */
  endAt?: number;
  /** Merged by the harness: the server's `ulimit -n`, and (storm) its RSS just before the cut. */
  serverFdLimit?: number;
  serverRssBeforeCut?: number;
  problems: string[];
}

const CONNECT_CONCURRENCY = 250;
const MAX_LATENCY_SAMPLES = 4_000_000;
const MAX_PROBLEMS = 8;

class Run {
  /** Events counted / bytes counted only while measuring. */
  measuring = false;
  recordLatency = false;
  bytes = 0;
  delivered = 0;
  completed = 0;
  lastCompletionAt = 0;
  problems: string[] = [];
  duplicates = 0;
  gaps = 0;
  /** Latency histogram instead of samples (periodic / storm). */
  histogram: Map<number, number> | undefined;
  private latencies: Float64Array;
  private latencyCount = 0;
  private latencyStride = 1;
  private latencySeen = 0;
  private allDone: (() => void) | undefined;

  constructor(
    readonly expectedLastId: number,
    readonly subscribers: number,
    expectedSamples: number,
  ) {
    const capacity = Math.min(Math.max(1, expectedSamples), MAX_LATENCY_SAMPLES);
    this.latencyStride = Math.max(1, Math.ceil(expectedSamples / capacity));
    this.latencies = new Float64Array(capacity);
  }

  problem(message: string): void {
    if (this.problems.length < MAX_PROBLEMS) this.problems.push(message);
    else if (this.problems.length === MAX_PROBLEMS) {
      this.problems.push('...');
      this.allDone?.(); // enough: stop waiting, the run has failed
    }
  }

  latency(ms: number): void {
    if (this.histogram) return histogramAdd(this.histogram, ms);
    if (this.latencySeen++ % this.latencyStride !== 0) return;
    if (this.latencyCount < this.latencies.length) this.latencies[this.latencyCount++] = ms;
  }

  complete(now: number): void {
    this.completed++;
    this.lastCompletionAt = now;
    if (this.completed >= this.subscribers) this.allDone?.();
  }

  whenAllDone(timeoutMs: number): Promise<boolean> {
    if (this.completed >= this.subscribers) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.allDone = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  latencySummary(): LatencySummary | null {
    if (this.latencyCount === 0) return null;
    const sorted = this.latencies.subarray(0, this.latencyCount).sort();
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
    return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1]!, samples: sorted.length };
  }
}

/** Decodes `Transfer-Encoding: chunked` from latin1 text, one TCP read at a time. */
class ChunkedDecoder {
  ended = false;
  private remaining = 0;
  private crlf = 0;
  private partial = '';

  decode(input: string): string {
    let s = input;
    if (this.partial) {
      s = this.partial + s;
      this.partial = '';
    }
    let out = '';
    let i = 0;
    const n = s.length;
    while (i < n && !this.ended) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, n - i);
        out += take === n ? s : s.slice(i, i + take);
        i += take;
        this.remaining -= take;
        if (this.remaining === 0) this.crlf = 2;
      } else if (this.crlf > 0) {
        const take = Math.min(this.crlf, n - i);
        i += take;
        this.crlf -= take;
      } else {
        const eol = s.indexOf('\r\n', i);
        if (eol < 0) {
          this.partial = s.slice(i);
          break;
        }
        const size = parseInt(s.slice(i, eol), 16);
        i = eol + 2;
        if (size === 0) this.ended = true;
        else this.remaining = size;
      }
    }
    return out;
  }
}

/** How a (re)connect ended when it did not get a stream: refused with a Retry-After (seconds). */
class Refused extends Error {
  constructor(
    readonly status: number,
    readonly retryAfterSeconds: number | undefined,
    line: string,
  ) {
    super(`GET /stream answered ${line}`);
  }
}

/** One SSE connection: raw HTTP/1.1 response parsing, frame parsing and order check. */
class Subscriber {
  private rest = '';
  lastId = 0;
  private done = false;
  private socket: Socket | undefined;
  private head: string | undefined = '';
  private chunked: ChunkedDecoder | undefined;
  /** Storm: set at the cut; the first event after it reports its time to `onResumed`. */
  resumedSince: number | undefined;
  onResumed: ((now: number) => void) | undefined;

  constructor(
    private readonly index: number,
    private readonly run: Run,
    private readonly path = '/stream',
    private readonly localAddress?: string,
  ) {}

  /**
   * Connects (with `Last-Event-ID` once an event was received); resolves once the response
   * head (200, text/event-stream) has arrived; rejects with {@link Refused} on another status.
   */
  open(port: number, headTimeoutMs?: number): Promise<void> {
    this.head = '';
    this.rest = '';
    this.chunked = undefined;
    this.closing = false;
    return new Promise((resolve, reject) => {
      const socket = connect({
        host: '127.0.0.1',
        port,
        ...(this.localAddress ? { localAddress: this.localAddress } : {}),
      });
      this.socket = socket;
      socket.setNoDelay(true);
      const timer = headTimeoutMs
        ? setTimeout(() => {
            if (socket !== this.socket || this.head === undefined) return;
            this.closing = true;
            socket.destroy();
            reject(new HeadTimeout(`no response head in ${headTimeoutMs} ms`));
          }, headTimeoutMs)
        : undefined;
      const resume = this.lastId > 0 ? `Last-Event-ID: ${this.lastId}\r\n` : '';
      socket.on('connect', () =>
        socket.write(
          `GET ${this.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n${resume}\r\n`,
        ),
      );
      socket.on('data', (chunk: Buffer) => {
        if (socket !== this.socket) return;
        if (this.head === undefined) return this.feed(chunk.toString('latin1'));
        this.head += chunk.toString('latin1');
        const end = this.head.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = this.head.slice(0, end);
        const body = this.head.slice(end + 4);
        this.head = undefined;
        clearTimeout(timer);
        const status = Number(head.slice(9, 12));
        if (status !== 200 || !/^content-type:\s*text\/event-stream/im.test(head)) {
          this.closing = true;
          socket.destroy();
          const retryAfter = /^retry-after:\s*(\d+)/im.exec(head);
          reject(new Refused(status, retryAfter ? Number(retryAfter[1]) : undefined, head.split('\r\n')[0]!));
          return;
        }
        if (/^transfer-encoding:\s*chunked/im.test(head)) this.chunked = new ChunkedDecoder();
        resolve();
        if (body) this.feed(body);
      });
      socket.on('error', (err) => {
        if (socket !== this.socket) return;
        if (this.head !== undefined) reject(err);
        else if (!this.done && this.run.expectedLastId > 0 && !this.closing)
          this.run.problem(`stream ${this.index}: ${err.message}`);
      });
      socket.on('close', () => {
        if (socket !== this.socket) return;
        if (this.head !== undefined) reject(new Error('connection closed before the response head'));
        else if (!this.done && this.run.expectedLastId > 0 && !this.closing) {
          this.run.problem(`stream ${this.index} closed at id ${this.lastId}`);
        }
      });
    });
  }

  private closing = false;

  close(): void {
    this.closing = true;
    this.socket?.destroy();
  }

  private feed(raw: string): void {
    const now = clockMs();
    const run = this.run;
    const body = this.chunked ? this.chunked.decode(raw) : raw;
    if (run.measuring) run.bytes += body.length;
    let start = 0;
    if (this.rest.length > 0) {
      // Complete the frame cut at the previous read with as little of this read as it needs:
      // joining the whole read to it would copy every large read once more (servers that
      // write big chunks would pay for it, servers that write one event at a time would not).
      let through: number; // index in body of the frame's final "\n"
      if (this.rest.endsWith('\n') && body.charCodeAt(0) === 10) {
        through = 0;
      } else {
        const end = body.indexOf('\n\n');
        if (end < 0) {
          this.rest += body;
          return;
        }
        through = end + 1;
      }
      const first = this.rest + body.slice(0, through + 1);
      this.rest = '';
      this.frames(first, 0, now);
      start = through + 1;
    }
    const pos = this.frames(body, start, now);
    this.rest = pos >= body.length ? '' : body.slice(pos);
  }

  /** Handles the complete frames of text from `pos`; returns where the unfinished rest starts. */
  private frames(text: string, pos: number, now: number): number {
    for (;;) {
      const end = text.indexOf('\n\n', pos);
      if (end < 0) return pos;
      if (end > pos) this.frame(text, pos, end, now);
      pos = end + 2;
    }
  }

  /** One frame, text[start, end). Frames without `data:` (open frame, `retry:`, comments) are ignored. */
  private frame(text: string, start: number, end: number, now: number): void {
    const data = lineStart(text, 'data:', start, end);
    if (data < 0) return;
    const run = this.run;
    const eventAt = lineStart(text, 'event:', start, end);
    if (eventAt >= 0 && !text.startsWith('progress\n', eventAt)) {
      run.problem(
        `stream ${this.index}: unexpected event ${text.slice(eventAt, text.indexOf('\n', eventAt))}`,
      );
      return;
    }
    const idAt = lineStart(text, 'id:', start, end);
    if (idAt < 0) {
      run.problem(`stream ${this.index}: data frame without id`);
      return;
    }
    let id = 0;
    for (let i = idAt; ; i++) {
      const c = text.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      id = id * 10 + c;
    }
    if (this.resumedSince !== undefined) {
      this.onResumed?.(now);
      this.resumedSince = undefined;
    }
    if (id !== this.lastId + 1) {
      run.problem(`stream ${this.index}: id ${id} after ${this.lastId}`);
      if (id <= this.lastId) {
        run.duplicates++;
        return; // duplicate: not counted again
      }
      run.gaps += id - this.lastId - 1;
    }
    this.lastId = id;
    if (run.measuring) {
      run.delivered++;
      if (run.recordLatency) {
        const t = text.indexOf('"t":', data);
        if (t >= 0 && t < end) run.latency(now - parseNumber(text, t + 4));
      }
    }
    if (id === run.expectedLastId && !this.done) {
      this.done = true;
      run.complete(now);
    }
  }
}

/**
 * Index of the value of a `name:` line (at the start of a line) within [start, end), or -1.
 * The one optional space after the colon is skipped (better-sse writes `id:1`, others `id: 1`).
 */
function lineStart(text: string, name: string, start: number, end: number): number {
  let at = text.indexOf(name, start);
  while (at >= 0 && at < end) {
    if (at === start || text.charCodeAt(at - 1) === 10) {
      const value = at + name.length;
      return text.charCodeAt(value) === 32 ? value + 1 : value;
    }
    at = text.indexOf(name, at + 1);
  }
  return -1;
}

/** A non-negative decimal number (digits, optional fraction) starting at `at`. */
function parseNumber(text: string, at: number): number {
  let value = 0;
  let i = at;
  for (; ; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) break;
    value = value * 10 + c;
  }
  if (text.charCodeAt(i) === 46) {
    let scale = 0.1;
    for (i++; ; i++) {
      const c = text.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      value += c * scale;
      scale /= 10;
    }
  }
  return value;
}

function call(port: number, method: 'GET' | 'POST', path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function stats(port: number, gc = false): Promise<ServerStats> {
  const { status, body } = await call(port, 'GET', gc ? '/stats?gc=1' : '/stats');
  if (status !== 200) throw new Error(`GET /stats answered ${status}`);
  return JSON.parse(body) as ServerStats;
}

async function emit(port: number, count: number, size: number): Promise<void> {
  const { status, body } = await call(port, 'POST', `/emit?count=${count}&size=${size}`);
  if (status < 200 || status > 299) throw new Error(`POST /emit answered ${status}: ${body.slice(0, 200)}`);
}

async function waitReady(port: number, n: number, deadline: number): Promise<void> {
  for (;;) {
    const { status, body } = await call(port, 'GET', `/ready?n=${n}`);
    if (status === 200) return;
    if (Date.now() > deadline) throw new Error(`not ready for ${n} streams in time (${body.slice(0, 100)})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function openAll(port: number, subscribers: Subscriber[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < subscribers.length) await subscribers[next++]!.open(port);
  };
  await Promise.all(Array.from({ length: Math.min(CONNECT_CONCURRENCY, subscribers.length) }, worker));
}

function cpuMs(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
}

function serverCpuMs(before: ServerStats, after: ServerStats): number {
  return (after.cpuUserUs + after.cpuSystemUs - before.cpuUserUs - before.cpuSystemUs) / 1000;
}

function summarize(job: ClientJob, run: Run, partial: Partial<ClientResult>): ClientResult {
  const wallMs = partial.wallMs ?? 0;
  const seconds = wallMs / 1000;
  const ok = (partial.ok ?? true) && run.problems.length === 0;
  return {
    mode: job.mode,
    subscribers: job.subscribers,
    events: job.events,
    delivered: run.delivered,
    wallMs,
    eventsPerSec: seconds > 0 ? run.delivered / seconds : 0,
    bytes: run.bytes,
    mbPerSec: seconds > 0 ? run.bytes / 1e6 / seconds : 0,
    latency: run.recordLatency ? run.latencySummary() : null,
    serverCpuMs: 0,
    clientCpuMs: 0,
    problems: run.problems,
    ...partial,
    ok,
  };
}

async function runLive(job: ClientJob): Promise<ClientResult> {
  const run = new Run(job.events, job.subscribers, job.subscribers * job.events);
  const subscribers = Array.from({ length: job.subscribers }, (_, i) => new Subscriber(i, run));
  const deadline = Date.now() + job.timeoutMs;
  await openAll(job.port, subscribers);
  await waitReady(job.port, job.subscribers, deadline);
  const before = await stats(job.port);
  const cpu = process.cpuUsage();
  run.measuring = true;
  run.recordLatency = true;
  const t0 = clockMs();
  const emitted = emit(job.port, job.events, job.size);
  emitted.catch(() => undefined);
  return finishRun(job, run, subscribers, { deadline, before, cpu, t0, emitted });
}

async function runReplay(job: ClientJob): Promise<ClientResult> {
  const run = new Run(job.events, job.subscribers, 0);
  const deadline = Date.now() + job.timeoutMs;
  await emit(job.port, job.events, job.size); // the backlog, before anyone subscribes
  const subscribers = Array.from({ length: job.subscribers }, (_, i) => new Subscriber(i, run));
  const before = await stats(job.port);
  const cpu = process.cpuUsage();
  run.measuring = true;
  const t0 = clockMs();
  await openAll(job.port, subscribers);
  return finishRun(job, run, subscribers, { deadline, before, cpu, t0 });
}

/** Waits until every subscriber has all events (or the deadline), then measures and closes. */
async function finishRun(
  job: ClientJob,
  run: Run,
  subscribers: Subscriber[],
  since: { deadline: number; before: ServerStats; cpu: NodeJS.CpuUsage; t0: number; emitted?: Promise<void> },
): Promise<ClientResult> {
  const finished = await run.whenAllDone(Math.max(1, since.deadline - Date.now()));
  const end = finished ? run.lastCompletionAt : clockMs();
  const clientCpuMs = cpuMs(since.cpu);
  run.measuring = false;
  if (finished) await since.emitted;
  const after = await stats(job.port);
  for (const s of subscribers) s.close();
  return summarize(job, run, {
    ok: finished,
    ...(finished ? {} : { error: `timed out: ${run.completed}/${job.subscribers} subscribers complete` }),
    wallMs: end - since.t0,
    serverCpuMs: serverCpuMs(since.before, after),
    clientCpuMs,
  });
}

async function runIdle(job: ClientJob): Promise<ClientResult> {
  const run = new Run(0, job.subscribers, 0);
  const deadline = Date.now() + job.timeoutMs;
  // Warm-up: the first streams load and compile code paths; keep that out of the delta.
  const warm = Array.from(
    { length: 20 },
    (_, i) => new Subscriber(i, run, streamPath(i, job.tasks), job.localAddress),
  );
  await openAll(job.port, warm);
  await waitReady(job.port, warm.length, deadline);
  for (const s of warm) s.close();
  await waitClosed(job.port, deadline);
  const before = await stats(job.port, true);
  const cpu = process.cpuUsage();
  const t0 = clockMs();
  const subscribers = Array.from(
    { length: job.subscribers },
    (_, i) => new Subscriber(i, run, streamPath(i, job.tasks), job.localAddress),
  );
  await openAll(job.port, subscribers);
  await waitReady(job.port, job.subscribers, deadline);
  const connectMs = clockMs() - t0;
  const clientCpuMs = cpuMs(cpu);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const after = await stats(job.port, true);
  for (const s of subscribers) s.close();
  const n = job.subscribers;
  return summarize(job, run, {
    wallMs: connectMs,
    serverCpuMs: serverCpuMs(before, after),
    clientCpuMs,
    idle: {
      rssBefore: before.rss,
      rssAfter: after.rss,
      heapBefore: before.heapUsed,
      heapAfter: after.heapUsed,
      rssPerSubscriber: (after.rss - before.rss) / n,
      heapPerSubscriber: (after.heapUsed - before.heapUsed) / n,
      connectMs,
    },
    fdLimit: fdLimit(),
  });
}

/**
 * (f) / (g), one of the harness's client processes: opens this process's share of the streams
 * (stream i of all on task i mod tasks), prints `BENCH_CONNECTED`, and waits until each stream
 * has ids 1 … events (the server's periodic emitter, started by the harness, sends them). Storm:
 * on `cut` (stdin) every socket is destroyed at once and all reconnect at once with their
 * `Last-Event-ID`; a 429 / 503 with Retry-After is retried after it, a connection error after 250 ms.
 */
async function runStreams(job: ClientJob): Promise<ClientResult> {
  const run = new Run(job.events, job.subscribers, 0);
  run.histogram = new Map();
  run.measuring = true;
  run.recordLatency = true;
  const offset = job.offset ?? 0;
  const subscribers = Array.from(
    { length: job.subscribers },
    (_, i) => new Subscriber(offset + i, run, streamPath(offset + i, job.tasks), job.localAddress),
  );
  const deadline = Date.now() + job.timeoutMs;
  await openAll(job.port, subscribers);
  const cpu = process.cpuUsage();
  const t0 = clockMs();
  let storm: StormSummary | undefined;
  if (job.mode === 'storm') {
    const lines = createInterface({ input: process.stdin });
    lines.on('line', (line) => {
      if (line.trim() === 'cut' && !storm) {
        storm = { reconnectMs: [], liveMs: [], refusals: {}, connectErrors: 0, headTimeouts: 0 };
        void cut(job, subscribers, storm, run);
      }
    });
  }
  process.stdout.write('BENCH_CONNECTED\n');
  const finished = await run.whenAllDone(Math.max(1, deadline - Date.now()));
  const clientCpuMs = cpuMs(cpu);
  const wallMs = (finished ? run.lastCompletionAt : clockMs()) - t0;
  for (const s of subscribers) s.close();
  storm?.reconnectMs.sort((a, b) => a - b);
  storm?.liveMs.sort((a, b) => a - b);
  return summarize(job, run, {
    ok: finished,
    ...(finished ? {} : { error: `timed out: ${run.completed}/${job.subscribers} streams complete` }),
    wallMs,
    clientCpuMs,
    histogram: Object.fromEntries(run.histogram),
    expected: job.subscribers * job.events,
    duplicates: run.duplicates,
    gaps: run.gaps + subscribers.reduce((sum, s) => sum + Math.max(0, job.events - s.lastId), 0),
    ...(storm ? { storm } : {}),
    fdLimit: fdLimit(),
    endAt: finished ? run.lastCompletionAt : clockMs(),
  });
}

/** The storm's cut: every socket destroyed at once, then every stream reopened at once (no cap). */
async function cut(job: ClientJob, subscribers: Subscriber[], storm: StormSummary, run: Run): Promise<void> {
  const cutAt = clockMs();
  for (const s of subscribers) {
    s.close();
    s.resumedSince = cutAt;
    s.onResumed = (now) => storm.liveMs.push(now - cutAt);
  }
  const reopen = async (s: Subscriber): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      try {
        await s.open(job.port, HEAD_TIMEOUT_MS * 2 ** Math.min(attempt, 3));
        storm.reconnectMs.push(clockMs() - cutAt);
        return;
      } catch (err) {
        let waitMs = 250;
        if (err instanceof Refused) {
          const known = (err.status === 429 || err.status === 503) && err.retryAfterSeconds !== undefined;
          const key = known ? String(err.status) : 'other';
          storm.refusals[key] = (storm.refusals[key] ?? 0) + 1;
          if (!known) run.problem(`refused without Retry-After: ${err.message}`);
          waitMs = (err.retryAfterSeconds ?? 1) * 1000;
        } else {
          if (err instanceof HeadTimeout) storm.headTimeouts++;
          else storm.connectErrors++;
          waitMs = Math.random() * Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
        }
        await new Promise((resolve) => setTimeout(resolve, waitMs));
      }
    }
  };
  await Promise.all(subscribers.map(reopen));
}

/** Waits until the server counts no open stream (the warm-up ones are gone). */
async function waitClosed(port: number, deadline: number): Promise<void> {
  for (;;) {
    const { body } = await call(port, 'GET', '/ready?n=0');
    const open = (JSON.parse(body) as { open?: number }).open ?? 0;
    if (open === 0 || Date.now() > deadline) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '{}') as ClientJob;
  let result: ClientResult;
  try {
    if (job.mode === 'live') result = await runLive(job);
    else if (job.mode === 'periodic' || job.mode === 'storm') result = await runStreams(job);
    else if (job.mode === 'replay') result = await runReplay(job);
    else result = await runIdle(job);
  } catch (err) {
    result = summarize(job, new Run(0, 0, 0), {
      ok: false,
      error: err instanceof Error ? err.message : String(err),
    });
  }
  process.stdout.write(`BENCH_RESULT ${JSON.stringify(result)}\n`, () => process.exit(0));
}

void main();
