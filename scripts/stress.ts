/**
 * `npm run stress`: bounded, loopback-only fault injection with printed figures.
 *
 * 1. Cuts: TASKS tasks x EVENTS events stream to one resuming client each, through cutting
 *    proxies that drop connections at random byte offsets (FIN and RST alternately) until
 *    CUTS cuts happened; in memory mode (one instance) and Redis mode (two instances,
 *    Express and Fastify, on one Redis, each behind its own proxy; clients resume on either).
 *    Every client must see ids 1..N+1 exactly once, in order.
 * 2. Slow consumers: the app runs as a child process (`node dist/src/main.js`); one task
 *    with big payloads has 2 reading subscribers and STALLED subscribers whose sockets are
 *    paused (half from the start, half mid-replay). Prints the server's RSS (baseline, peak,
 *    after), how many stalled streams were cut off, and the readers' delivery lag compared
 *    with a run without stalled subscribers.
 *
 * 3. Stalled replays: the library alone in a child process (`scripts/stalled-replay-server.ts`),
 *    one finished task with HISTORY MB of history, and STALLED_REPLAYS subscribers that read
 *    nothing (a paused socket) from the start, so each stalls in its replay. Prints the open
 *    streams and the server's RSS over time: the slow-consumer rule must drop them all after
 *    `slowConsumerTimeoutMs` and free their slots.
 *
 * 4. Attacks (issue 10): the memory attack (`--posts` x 8 events of 1 MiB, with the default
 *    history budget and with 64 MiB; see `stress-attacks.ts`) and a 100 000 x 1 MiB task's
 *    effect on other requests' latency.
 *
 * Options: --mode memory|redis|both (both) --only cuts|slow|stalled-replays|attacks --tasks 20
 * --events 500 --cuts 1000 --stalled 100 --stalled-replays 300 --history-mb 8
 * --slow-timeout 5000 (ms; 0 turns the rule off, to compare) --hold-ms 20000 --posts 1000 --seed N.
 * Redis: REDIS_URL (default redis://127.0.0.1:6379).
 * Exit code 1 if any guarantee failed.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve as resolvePath } from 'node:path';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { createTask, type CreatedTask, getInfo, requestJson } from '../test/utils/api';
import { type CuttingProxy, startCuttingProxy } from '../test/utils/cutting-proxy';
import { openRaw, type RawHttpConnection } from '@app/sse-resume/testing/raw-http';
import { Random } from '@app/sse-resume/testing/prng';
import { dataOf, parseFrames, type SseFrame } from '@app/sse-resume/testing/sse';
import { type Adapter, type RunningApp, startApp } from '../test/utils/start-app';
import { type ChildApp, startChildApp } from '../test/utils/child-app';
import { deleteKeys } from '../libs/sse-resume/src/testing/redis';
import {
  formatMemoryAttack,
  formatStall,
  type MemoryAttackOptions,
  rssMb,
  runMemoryAttack,
  runStall,
} from './stress-attacks';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { buildIfStale } = require('./build-if-stale.js') as {
  buildIfStale: (options?: { quiet?: boolean }) => string;
};

const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

// ---- 1. cuts -------------------------------------------------------------------------------

export interface CutStressOptions {
  mode: 'memory' | 'redis';
  tasks: number;
  events: number;
  /** Cuts to make in all (split evenly over the proxies). */
  cuts: number;
  seed: number;
  /** Memory mode: the adapter of the one instance. Redis mode runs one of each. */
  adapter?: Adapter;
  redisUrl?: string;
}

export interface ClientRecord {
  taskId: string;
  /** `id:` of every event frame received, in order, over all connections. */
  ids: number[];
  gaps: number;
  /** Connections opened, and those cut before a response head arrived. */
  attempts: number;
  noHead: number;
  /** Problems with the data of the frames (step != id, wrong end). */
  badFrames: string[];
}

export interface CutStressResult {
  mode: 'memory' | 'redis';
  instances: string[];
  tasks: number;
  eventsPerTask: number;
  cuts: { total: number; fin: number; reset: number; inHead: number };
  connections: number;
  /** Event frames delivered to clients, `end` included. */
  delivered: number;
  expected: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
  gaps: number;
  badFrames: string[];
  elapsedMs: number;
  clients: ClientRecord[];
}

/** Rough bytes of one demo progress frame, for sizing the proxies' byte budgets. */
const FRAME_BYTES = 90;
/** Rough bytes of a response head. */
const HEAD_BYTES = 300;
/** Tasks emit at one of these intervals (ms): 0 = a burst replayed from history, more = live. */
const INTERVALS = [0, 1, 2, 4];

export async function runCutStress(options: CutStressOptions): Promise<CutStressResult> {
  const rng = new Random(options.seed);
  const redisUrl = options.redisUrl ?? DEFAULT_REDIS_URL;
  const prefix = `stress:${process.pid}:${Date.now()}:${options.seed}:`;
  const env: Record<string, string> =
    options.mode === 'redis' ? { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: prefix } : {};
  const adapters: Adapter[] =
    options.mode === 'redis' ? ['express', 'fastify'] : [options.adapter ?? 'express'];
  const apps: RunningApp[] = [];
  const proxies: CuttingProxy[] = [];
  try {
    for (const adapter of adapters) apps.push(await startApp(adapter, env));
    // Byte budgets so that the natural number of cuts exceeds the target ~2.5 times: then
    // `maxCuts` stops at exactly the target and the rest of each stream flows uncut.
    const cutsPerClient = options.cuts / options.tasks;
    const bodyPerClient = options.events * FRAME_BYTES;
    const meanBudget = HEAD_BYTES + bodyPerClient / (2.5 * cutsPerClient);
    const perProxy = Math.ceil(options.cuts / apps.length);
    const maxCuts: number[] = [];
    for (const [i, app] of apps.entries()) {
      maxCuts.push(i === apps.length - 1 ? options.cuts - perProxy * (apps.length - 1) : perProxy);
      proxies.push(
        await startCuttingProxy({
          target: app.baseUrl,
          seed: (options.seed + i + 1) >>> 0,
          minBytes: 1,
          maxBytes: Math.max(2, Math.round(2 * meanBudget)),
          maxCuts: maxCuts[i],
          cutRequest: (line) => line.includes('/events'),
        }),
      );
    }

    const started = performance.now();
    const tasks: CreatedTask[] = [];
    for (let i = 0; i < options.tasks; i++) {
      const intervalMs = INTERVALS[rng.int(0, INTERVALS.length - 1)]!;
      tasks.push(await createTask(apps[i % apps.length]!.baseUrl, { steps: options.events, intervalMs }));
    }
    const clients = await Promise.all(
      tasks.map((task, i) =>
        followThroughCuts(
          task,
          proxies,
          maxCuts,
          new Random((options.seed ^ (i * 0x9e3779b9)) >>> 0),
          options.events,
        ),
      ),
    );
    const elapsedMs = performance.now() - started;

    const allCuts = proxies.flatMap((proxy) => proxy.cuts);
    let lost = 0;
    let duplicated = 0;
    let outOfOrder = 0;
    for (const client of clients) {
      const seen = new Set(client.ids);
      for (let id = 1; id <= options.events + 1; id++) if (!seen.has(id)) lost++;
      duplicated += client.ids.length - seen.size;
      for (let i = 1; i < client.ids.length; i++) if (client.ids[i]! <= client.ids[i - 1]!) outOfOrder++;
    }
    return {
      mode: options.mode,
      instances: adapters,
      tasks: options.tasks,
      eventsPerTask: options.events,
      cuts: {
        total: allCuts.length,
        fin: allCuts.filter((cut) => cut.kind === 'fin').length,
        reset: allCuts.filter((cut) => cut.kind === 'reset').length,
        inHead: clients.reduce((sum, client) => sum + client.noHead, 0),
      },
      connections: clients.reduce((sum, client) => sum + client.attempts, 0),
      delivered: clients.reduce((sum, client) => sum + client.ids.length, 0),
      expected: options.tasks * (options.events + 1),
      lost,
      duplicated,
      outOfOrder,
      gaps: clients.reduce((sum, client) => sum + client.gaps, 0),
      badFrames: clients.flatMap((client) => client.badFrames),
      elapsedMs,
      clients,
    };
  } finally {
    await Promise.all(proxies.map((proxy) => proxy.close()));
    await Promise.all(apps.map((app) => app.close()));
    if (options.mode === 'redis') await deleteKeys(prefix, redisUrl);
  }
}

/**
 * What a browser's EventSource does, over whichever proxy the rng picks: read until the
 * connection ends, keep the complete frames, reconnect at once after the last id seen
 * (`Last-Event-ID`, or sometimes `?lastEventId=`), until the `end` event.
 */
async function followThroughCuts(
  task: CreatedTask,
  proxies: readonly CuttingProxy[],
  maxCuts: readonly number[],
  rng: Random,
  steps: number,
): Promise<ClientRecord> {
  const record: ClientRecord = {
    taskId: task.taskId,
    ids: [],
    gaps: 0,
    attempts: 0,
    noHead: 0,
    badFrames: [],
  };
  let lastEventId: string | undefined;
  const maxAttempts = 50 * (steps + 10);
  while (record.attempts < maxAttempts) {
    record.attempts++;
    // Either instance at random, but not one whose proxy has made all its cuts while another has not.
    const cutting = proxies.filter((p, i) => p.cuts.length < maxCuts[i]!);
    const choices = cutting.length > 0 ? cutting : proxies;
    const proxy = choices[rng.int(0, choices.length - 1)]!;
    const inQuery = lastEventId !== undefined && rng.next() < 0.25;
    const path = inQuery ? `${task.streamUrl}&lastEventId=${lastEventId}` : task.streamUrl;
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    if (lastEventId !== undefined && !inQuery) headers['Last-Event-ID'] = lastEventId;
    const response = await openRaw(proxy.url + path, { headers, timeoutMs: 60_000 }).done.catch(
      () => undefined,
    );
    if (!response) {
      record.noHead++;
      continue;
    }
    if (response.status === 204) return record; // at or past the end: only after the end was seen
    if (response.status !== 200) {
      throw new Error(
        `task ${task.taskId}: resume from ${lastEventId} answered ${response.status}: ${response.text}`,
      );
    }
    let ended = false;
    for (const frame of parseFrames(response.text).frames) {
      if (frame.id !== undefined) lastEventId = frame.id;
      if (frame.event === undefined) continue;
      if (frame.event === 'gap') {
        record.gaps++;
        continue;
      }
      record.ids.push(Number(frame.id));
      checkFrame(frame, steps, record.badFrames);
      if (frame.event === 'end') ended = true;
    }
    if (ended) return record;
  }
  throw new Error(
    `task ${task.taskId}: no end event after ${maxAttempts} connections (last id ${lastEventId})`,
  );
}

function checkFrame(frame: SseFrame, steps: number, problems: string[]): void {
  const id = Number(frame.id);
  if (frame.event === 'progress') {
    const step = dataOf<{ step: number }>(frame).step;
    if (step !== id) problems.push(`id ${id} carries step ${step}`);
  } else if (frame.event === 'end') {
    const end = dataOf<{ status: string; result?: { steps: number } }>(frame);
    if (id !== steps + 1 || end.status !== 'completed' || end.result?.steps !== steps) {
      problems.push(`end frame id ${id}: ${frame.data[0]}`);
    }
  } else {
    problems.push(`unexpected event ${frame.event} id ${id}`);
  }
}

export function formatCutResult(r: CutStressResult): string {
  return [
    `${r.mode} (${r.instances.join(' + ')}): ${r.tasks} tasks x ${r.eventsPerTask} events`,
    `cuts ${r.cuts.total} (FIN ${r.cuts.fin}, RST ${r.cuts.reset}; ${r.cuts.inHead} before a response head)`,
    `connections ${r.connections}`,
    `events ${r.delivered}/${r.expected}`,
    `lost ${r.lost}, duplicated ${r.duplicated}, out of order ${r.outOfOrder}, gaps ${r.gaps}, bad frames ${r.badFrames.length}`,
    `${(r.elapsedMs / 1000).toFixed(1)} s`,
  ].join('; ');
}

// ---- 2. slow consumers -----------------------------------------------------------------------

export interface SlowConsumerOptions {
  stalled: number;
  adapter: Adapter;
  /** Events of the task, and characters of payload in each. */
  steps: number;
  payloadBytes: number;
  intervalMs: number;
}

export interface ReaderFigures {
  /** Events received by each reading subscriber (all must be steps + 1). */
  received: number[];
  /** Worst delay between the server storing the end and a reader receiving it. */
  endLagMs: number;
  durationMs: number;
}

export interface SlowConsumerResult {
  baseline: ReaderFigures;
  withStalled: ReaderFigures;
  stalledLive: number;
  stalledReplay: number;
  /** Live-stalled streams the server cut off (maxPendingBytes), of `stalledLive`. */
  liveDropped: number;
  /** Open streams on the server when the task ended (readers have gone by then). */
  streamsAtEnd: number;
  rss: { baselineMb: number; peakMb: number; afterMb: number };
  bytesProduced: number;
}

/** Resident set size of a process, from /proc (Linux). */

/** A reading subscriber that keeps no body: counts event frames, remembers when `end` came. */
function readCounting(url: string): Promise<{ events: number; endAt: number | undefined }> {
  return new Promise((resolveRead, reject) => {
    httpGet(url, { agent: false, headers: { Accept: 'text/event-stream' } }, (res: IncomingMessage) => {
      let tail = '';
      let events = 0;
      let endAt: number | undefined;
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        const all = tail + text;
        const last = all.lastIndexOf('\n\n');
        if (last === -1) {
          tail = all;
          return;
        }
        const complete = all.slice(0, last);
        tail = all.slice(last + 2);
        for (let i = complete.indexOf('event: '); i !== -1; i = complete.indexOf('event: ', i + 7)) {
          events++;
          if (complete.startsWith('event: end', i)) endAt = Date.now();
        }
      });
      res.on('end', () => resolveRead({ events, endAt }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

/** A subscriber that reads the head and then nothing: its socket is paused. */
function openStalled(url: string): Promise<IncomingMessage> {
  return new Promise((resolveOpen, reject) => {
    const request = httpGet(url, { agent: false, headers: { Accept: 'text/event-stream' } }, (res) => {
      res.pause();
      res.socket.pause();
      resolveOpen(res);
    });
    request.on('error', reject);
  });
}

async function runReaders(
  server: ChildApp,
  options: SlowConsumerOptions,
  withStalled: boolean,
  sample: () => void,
): Promise<{
  figures: ReaderFigures;
  stalled?: Omit<SlowConsumerResult, 'baseline' | 'withStalled' | 'rss'>;
}> {
  const task = await createTask(server.url, {
    steps: options.steps,
    intervalMs: options.intervalMs,
    payloadBytes: options.payloadBytes,
  });
  const streamUrl = server.url + task.streamUrl;
  const stalled: IncomingMessage[] = [];
  const half = Math.floor(options.stalled / 2);
  if (withStalled) {
    // All at once, so that they join while the history is still small and go live.
    stalled.push(...(await Promise.all(Array.from({ length: half }, () => openStalled(streamUrl)))));
  }
  const started = Date.now();
  const readers = [readCounting(streamUrl), readCounting(streamUrl)];
  let replayStalledOpened = 0;
  if (withStalled) {
    // The other half joins once ~4 MB of history exist: they stall in the middle of the replay.
    const eventsFor4Mb = Math.ceil((4 * 1024 * 1024) / options.payloadBytes);
    for (;;) {
      const info = await getInfo(server.url, task.taskId, task.resumeKey);
      if (info.json.lastEventId >= eventsFor4Mb || info.json.status !== 'running') break;
      sample();
      await sleep(20);
    }
    const late = options.stalled - half;
    stalled.push(...(await Promise.all(Array.from({ length: late }, () => openStalled(streamUrl)))));
    replayStalledOpened = options.stalled - half;
  }
  let streamsAtEnd = 0;
  for (;;) {
    sample();
    const info = await getInfo(server.url, task.taskId, task.resumeKey);
    if (info.json.status !== 'running') break;
    await sleep(20);
  }
  const results = await Promise.all(readers);
  const info = await getInfo(server.url, task.taskId, task.resumeKey);
  streamsAtEnd = info.json.subscribers;
  const endStoredAt = Date.parse(info.json.updatedAt);
  const figures: ReaderFigures = {
    received: results.map((r) => r.events),
    endLagMs: Math.max(...results.map((r) => (r.endAt ?? Infinity) - endStoredAt)),
    durationMs: Math.max(...results.map((r) => (r.endAt ?? Infinity) - started)),
  };
  if (!withStalled) return { figures };
  // The readers have left. Live-stalled streams the server dropped are gone from
  // `subscribers`; the replay-stalled ones wait (holding bounded memory) for their client.
  const liveDropped = half - Math.max(0, streamsAtEnd - replayStalledOpened);
  for (const res of stalled) res.destroy();
  return {
    figures,
    stalled: {
      stalledLive: half,
      stalledReplay: replayStalledOpened,
      liveDropped,
      streamsAtEnd,
      bytesProduced: options.steps * options.payloadBytes,
    },
  };
}

export async function runSlowConsumers(options: SlowConsumerOptions): Promise<SlowConsumerResult> {
  buildIfStale({ quiet: true });
  const server = await startChildApp({ HTTP_ADAPTER: options.adapter });
  const pid = server.child.pid!;
  try {
    // Warm up (JIT, pools) so the baseline is the steady state, not the boot.
    const warm = await createTask(server.url, { steps: 50, intervalMs: 0, payloadBytes: 1024 });
    await readCounting(server.url + warm.streamUrl);
    const reference = await runReaders(server, options, false, () => undefined);
    await sleep(500);
    const baselineMb = rssMb(pid);
    let peakMb = baselineMb;
    const sample = () => {
      peakMb = Math.max(peakMb, rssMb(pid));
    };
    const timer = setInterval(sample, 10);
    const stalledRun = await runReaders(server, options, true, sample);
    clearInterval(timer);
    await sleep(1_000);
    const afterMb = rssMb(pid);
    return {
      baseline: reference.figures,
      withStalled: stalledRun.figures,
      ...stalledRun.stalled!,
      rss: { baselineMb, peakMb, afterMb },
    };
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
}

export function formatSlowResult(r: SlowConsumerResult, options: SlowConsumerOptions): string {
  const readers = (f: ReaderFigures) =>
    `received ${f.received.join('/')} events, end lag ${f.endLagMs} ms, ${(f.durationMs / 1000).toFixed(2)} s`;
  return [
    `task: ${options.steps} events x ${options.payloadBytes} B payload every ${options.intervalMs} ms (${(r.bytesProduced / 1e6).toFixed(1)} MB)`,
    `2 readers alone: ${readers(r.baseline)}`,
    `2 readers + ${r.stalledLive + r.stalledReplay} stalled: ${readers(r.withStalled)}`,
    `stalled live: ${r.liveDropped}/${r.stalledLive} disconnected past maxPendingBytes; stalled mid-replay: ${r.stalledReplay} held open with bounded memory`,
    `server RSS: baseline ${r.rss.baselineMb.toFixed(0)} MB, peak ${r.rss.peakMb.toFixed(0)} MB (+${(r.rss.peakMb - r.rss.baselineMb).toFixed(0)} MB), after ${r.rss.afterMb.toFixed(0)} MB`,
  ].join('\n  ');
}

// ---- 3. stalled replays ------------------------------------------------------------------

export interface StalledReplayOptions {
  stalled: number;
  historyMb: number;
  /** 0: the rule off (the largest timer), to compare. */
  slowConsumerTimeoutMs: number;
  /** Longest wait for the stalled streams to be dropped. */
  holdMs: number;
}

export interface StalledReplayResult {
  /** Most streams open at once. */
  maxOpen: number;
  /** Open streams when the wait ended. */
  openAtEnd: number;
  /** From the last subscriber's arrival until no stream was open; undefined if they stayed. */
  droppedAfterMs: number | undefined;
  waitedMs: number;
  rss: { baselineMb: number; peakMb: number; afterMb: number };
  /** Heap + external memory after a full GC: before, when most streams were open, at the end. */
  heldMb: { baseline: number; atMostOpen: number; atEnd: number };
}

export async function runStalledReplays(options: StalledReplayOptions): Promise<StalledReplayResult> {
  const root = resolvePath(__dirname, '..');
  const child = spawn(
    process.execPath,
    ['--expose-gc', '-r', './scripts/register-ts.js', 'scripts/stalled-replay-server.ts'],
    {
      cwd: root,
      env: {
        ...process.env,
        SLOW_CONSUMER_TIMEOUT_MS: String(options.slowConsumerTimeoutMs || 2_147_483_647),
        HISTORY_MB: String(options.historyMb),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = once(child, 'exit');
  let output = '';
  child.stderr.on('data', (data: Buffer) => (output += data.toString()));
  const clients: RawHttpConnection[] = [];
  try {
    const [url, taskId, key] = await new Promise<[string, string, string]>((resolveStart, reject) => {
      child.stdout.on('data', (data: Buffer) => {
        output += data.toString();
        const match = /listening on (\S+) task (\S+) (\S+)/.exec(output);
        if (match) resolveStart([match[1]!, match[2]!, match[3]!]);
      });
      void exited.then(() => reject(new Error(`the server exited:\n${output}`)));
    });
    const streamUrl = `${url}/tasks/${taskId}/events?key=${key}`;
    const stats = async (gc = false) =>
      (
        await requestJson<{ openStreams: number; heapMb: number; externalMb: number }>(
          url,
          'GET',
          `/tasks/stats${gc ? '?gc=1' : ''}`,
        )
      ).json;
    const heldMb = async () => {
      const { heapMb, externalMb } = await stats(true);
      return heapMb + externalMb;
    };
    const openStreams = async () => (await stats()).openStreams;
    const pid = child.pid!;
    await readCounting(streamUrl); // warm-up: one whole replay
    await sleep(500);
    const baselineMb = rssMb(pid);
    const held = { baseline: await heldMb(), atMostOpen: 0, atEnd: 0 };
    let peakMb = baselineMb;
    const sampler = setInterval(() => (peakMb = Math.max(peakMb, rssMb(pid))), 10);
    for (let i = 0; i < options.stalled; i++) {
      const client = openRaw(streamUrl, { timeoutMs: options.holdMs + 60_000 });
      client.socket.pause(); // reads nothing, not even the head
      clients.push(client);
    }
    let maxOpen = 0;
    let open = 0;
    let joinedAt = Date.now();
    // Wait for them to join (some may already be dropped by then with a short timeout).
    for (let tries = 0; tries < 500; tries++) {
      open = await openStreams();
      if (open > maxOpen) {
        maxOpen = open;
        joinedAt = Date.now();
      }
      if (open >= options.stalled) break;
      await sleep(10);
    }
    held.atMostOpen = await heldMb();
    let droppedAfterMs: number | undefined;
    while (Date.now() - joinedAt < options.holdMs) {
      open = await openStreams();
      if (open === 0) {
        droppedAfterMs = Date.now() - joinedAt;
        break;
      }
      await sleep(20);
    }
    const waitedMs = Date.now() - joinedAt;
    clearInterval(sampler);
    await sleep(1_000);
    held.atEnd = await heldMb();
    return {
      heldMb: held,
      maxOpen,
      openAtEnd: open,
      droppedAfterMs,
      waitedMs,
      rss: { baselineMb, peakMb, afterMb: rssMb(pid) },
    };
  } finally {
    for (const client of clients) client.socket.destroy();
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  }
}

export function formatStalledReplayResult(r: StalledReplayResult, options: StalledReplayOptions): string {
  const rule = options.slowConsumerTimeoutMs
    ? `slowConsumerTimeoutMs ${options.slowConsumerTimeoutMs}`
    : 'rule off';
  return [
    `${options.stalled} readers that read nothing, finished task with ${options.historyMb} MB of history, ${rule}`,
    r.droppedAfterMs === undefined
      ? `open streams: ${r.maxOpen} at most, ${r.openAtEnd} still open after ${(r.waitedMs / 1000).toFixed(1)} s`
      : `open streams: ${r.maxOpen} at most, 0 after ${(r.droppedAfterMs / 1000).toFixed(2)} s`,
    `server RSS: baseline ${r.rss.baselineMb.toFixed(0)} MB, peak ${r.rss.peakMb.toFixed(0)} MB (+${(r.rss.peakMb - r.rss.baselineMb).toFixed(0)} MB), 1 s after the wait ${r.rss.afterMb.toFixed(0)} MB`,
    `server heap + external after GC: baseline ${r.heldMb.baseline.toFixed(0)} MB, with the most streams open ${r.heldMb.atMostOpen.toFixed(0)} MB, 1 s after the wait ${r.heldMb.atEnd.toFixed(0)} MB`,
  ].join('\n  ');
}

// ---- 4. attacks (issue 10) -------------------------------------------------------------------

/** The memory attack with the default budget and a small one, then the stalling task. */
async function runAttacks(mode: string, posts: number): Promise<boolean> {
  buildIfStale({ quiet: true });
  let ok = true;
  const modes = mode === 'both' ? (['memory', 'redis'] as const) : [mode as 'memory' | 'redis'];
  for (const m of modes) {
    const redisUrl = m === 'redis' ? (process.env.REDIS_URL ?? DEFAULT_REDIS_URL) : undefined;
    for (const budgetBytes of [undefined, 64 * 1024 * 1024]) {
      const options: MemoryAttackOptions = { posts, concurrency: 20, budgetBytes, redisUrl };
      const result = await runMemoryAttack(options);
      console.log(`memory attack: ${formatMemoryAttack(result, options)}`);
      if (!result.alive || result.firstTaskEvents[result.firstTaskEvents.length - 1] !== 'end') {
        ok = false;
        console.log('  FAILED: the server died or the first task no longer ends with `end`');
      }
    }
  }
  const stall = await runStall();
  console.log(`stalling task: ${formatStall(stall)}`);
  return ok;
}

// ---- main ------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((resolveSleep) => setTimeout(resolveSleep, ms));

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : (process.argv[i + 1] ?? fallback);
}

async function main(): Promise<void> {
  const mode = arg('mode', 'both');
  const only = arg('only', 'all');
  const tasks = Number(arg('tasks', '20'));
  const events = Number(arg('events', '500'));
  const cuts = Number(arg('cuts', '1000'));
  const stalled = Number(arg('stalled', '100'));
  const seed = Number(arg('seed', String(Math.floor(Math.random() * 4_294_967_296))));
  console.log(`stress: node ${process.version}, seed ${seed} (rerun with --seed ${seed})`);
  let failed = false;

  if (only === 'all' || only === 'cuts') {
    const modes = mode === 'both' ? (['memory', 'redis'] as const) : [mode as 'memory' | 'redis'];
    for (const m of modes) {
      const result = await runCutStress({
        mode: m,
        tasks,
        events,
        cuts,
        seed,
        redisUrl: process.env.REDIS_URL,
      });
      console.log(`cuts, ${formatCutResult(result)}`);
      const ok =
        result.cuts.total === cuts &&
        result.lost === 0 &&
        result.duplicated === 0 &&
        result.outOfOrder === 0 &&
        result.gaps === 0 &&
        result.badFrames.length === 0;
      if (!ok) {
        failed = true;
        console.log(
          `  FAILED: expected exactly ${cuts} cuts and no loss; ${result.badFrames.slice(0, 5).join('; ')}`,
        );
      }
    }
  }

  if (only === 'all' || only === 'slow') {
    const options: SlowConsumerOptions = {
      stalled,
      adapter: 'express',
      steps: 400,
      payloadBytes: 64 * 1024,
      intervalMs: 2,
    };
    const result = await runSlowConsumers(options);
    console.log(`slow consumers:\n  ${formatSlowResult(result, options)}`);
    const complete = (f: ReaderFigures) => f.received.every((n) => n === options.steps + 1);
    if (
      !complete(result.baseline) ||
      !complete(result.withStalled) ||
      result.liveDropped !== result.stalledLive
    ) {
      failed = true;
      console.log('  FAILED: a reader missed events or a stalled stream was not disconnected');
    }
  }
  if (only === 'all' || only === 'stalled-replays') {
    const options: StalledReplayOptions = {
      stalled: Number(arg('stalled-replays', '300')),
      historyMb: Number(arg('history-mb', '8')),
      slowConsumerTimeoutMs: Number(arg('slow-timeout', '5000')),
      holdMs: Number(arg('hold-ms', '20000')),
    };
    const result = await runStalledReplays(options);
    console.log(`stalled replays:\n  ${formatStalledReplayResult(result, options)}`);
    if (options.slowConsumerTimeoutMs > 0 && result.droppedAfterMs === undefined) {
      failed = true;
      console.log('  FAILED: stalled replay readers were not disconnected');
    }
  }
  if (only === 'all' || only === 'attacks') {
    if (!(await runAttacks(mode, Number(arg('posts', '1000'))))) failed = true;
  }
  console.log(failed ? 'stress: FAILED' : 'stress: OK');
  process.exitCode = failed ? 1 : 0;
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
