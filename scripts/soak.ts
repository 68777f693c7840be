/**
 * `npm run soak`: about two minutes of tasks started and finished continuously, with
 * subscribers coming and going, against the example app running in this process (so that
 * its memory and handles can be measured after a forced GC: run with --expose-gc).
 *
 * Each session starts a task (random steps, pace, payload; some fail, some are cancelled)
 * and attaches 1-3 subscribers that read to the end, or leave and resume with
 * Last-Event-ID, or poll its info; some join after the end (replay). TTL is short
 * (SOAK_TTL_MS, default 2000), so eviction runs all along.
 *
 * Figures: RSS, heap and active handles after a warm-up (baseline) and again after the
 * load stopped, the TTL passed twice (expired, then forgotten) and a GC; the memory store's
 * stats must be back to zero, RSS and handles no more than 10 % above the baseline, and every
 * subscriber must have seen contiguous ids with no duplicate. Exit code 1 otherwise.
 *
 * Options: --seconds 100 (load duration after a 10 s warm-up) --concurrency 16
 * --adapter express|fastify --seed N.
 */
import type { INestApplication } from '@nestjs/common';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { InMemoryTaskStore, SseTaskService, TaskStore } from '@app/sse-resume';
import { cancelTask, createTask, type CreatedTask, getInfo, type TaskBody } from '../test/utils/api';
import { Random } from '@app/sse-resume/testing/prng';
import { type Adapter, startApp } from '../test/utils/start-app';

const sleep = (ms: number) => new Promise((resolveSleep) => setTimeout(resolveSleep, ms));

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : (process.argv[i + 1] ?? fallback);
}

interface Counters {
  sessions: number;
  completed: number;
  failed: number;
  cancelled: number;
  streams: number;
  resumes: number;
  lateReplays: number;
  events: number;
  infoPolls: number;
  expiredProbes: number;
  /** Unexpected statuses, broken id sequences, missing ends: must stay empty. */
  problems: string[];
}

interface Snapshot {
  rssMb: number;
  heapMb: number;
  handles: number;
  resources: string;
  store: { tasks: number; tombstones: number; events: number; bytes: number };
  service: { runningTasks: number; openStreams: number };
}

/** Figures after full GCs, with pauses so that freed pages go back to the OS first. */
async function snapshot(app: INestApplication): Promise<Snapshot> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 5; i++) {
    gc?.();
    await sleep(200);
  }
  const memory = process.memoryUsage();
  const resources = process.getActiveResourcesInfo();
  const counts = new Map<string, number>();
  for (const name of resources) counts.set(name, (counts.get(name) ?? 0) + 1);
  const store = app.get<InMemoryTaskStore>(TaskStore);
  return {
    rssMb: memory.rss / 1024 / 1024,
    heapMb: memory.heapUsed / 1024 / 1024,
    handles: resources.length,
    resources: [...counts].map(([name, n]) => `${name} ${n}`).join(', '),
    store: store.stats(),
    service: app.get(SseTaskService).stats,
  };
}

function describe(s: Snapshot): string {
  return (
    `RSS ${s.rssMb.toFixed(1)} MB, heap ${s.heapMb.toFixed(1)} MB, handles ${s.handles} (${s.resources}); ` +
    `store ${JSON.stringify(s.store)}; service ${JSON.stringify(s.service)}`
  );
}

/** Reads an event stream, checking that ids follow `after` one by one; resolves with the last id. */
function readStream(
  url: string,
  after: number,
  counters: Counters,
  options: { leaveAfterMs?: number } = {},
): Promise<{ lastId: number; end: string | undefined; left: boolean }> {
  return new Promise((resolveRead) => {
    let lastId = after;
    let end: string | undefined;
    let left = false;
    let tail = '';
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    if (after > 0) headers['Last-Event-ID'] = String(after);
    counters.streams++;
    const request = httpGet(url, { agent: false, headers }, (res: IncomingMessage) => {
      if (res.statusCode === 204) {
        res.resume();
        return resolveRead({ lastId, end: 'already ended', left });
      }
      if (res.statusCode !== 200) {
        counters.problems.push(`GET ${url} after ${after}: ${res.statusCode}`);
        res.resume();
        return resolveRead({ lastId, end: undefined, left });
      }
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        const all = tail + text;
        const frames = all.split('\n\n');
        tail = frames.pop()!;
        for (const frame of frames) {
          const event = /^event: (\S+)$/m.exec(frame)?.[1];
          if (event === undefined) continue;
          const id = Number(/^id: (\d+)$/m.exec(frame)?.[1]);
          if (id !== lastId + 1) counters.problems.push(`${url}: id ${id} after ${lastId}`);
          lastId = id;
          counters.events++;
          if (event === 'end') end = /"status":"(\w+)"/.exec(frame)?.[1];
        }
      });
      res.on('end', () => resolveRead({ lastId, end, left }));
      res.on('error', () => resolveRead({ lastId, end, left }));
    });
    request.on('error', () => resolveRead({ lastId, end, left }));
    if (options.leaveAfterMs !== undefined) {
      setTimeout(() => {
        if (end === undefined) {
          left = true;
          request.destroy();
        }
      }, options.leaveAfterMs);
    }
  });
}

/** A subscriber: reads to the end, leaving and resuming with Last-Event-ID up to 3 times. */
async function subscriber(
  baseUrl: string,
  task: CreatedTask,
  rng: Random,
  counters: Counters,
): Promise<string> {
  let lastId = 0;
  for (let round = 0; round < 10; round++) {
    const leave = round < 3 && rng.next() < 0.5 ? { leaveAfterMs: rng.int(5, 300) } : {};
    const result = await readStream(baseUrl + task.streamUrl, lastId, counters, leave);
    lastId = result.lastId;
    if (result.end !== undefined) return result.end;
    if (!result.left) break; // the server ended the stream without `end`: a problem (no shutdown here)
    counters.resumes++;
    await sleep(rng.int(0, 100));
  }
  counters.problems.push(`task ${task.taskId}: a subscriber never got the end (last id ${lastId})`);
  return 'none';
}

async function session(baseUrl: string, rng: Random, counters: Counters, ttlMs: number): Promise<void> {
  counters.sessions++;
  const steps = rng.int(5, 200);
  const body: TaskBody = {
    steps,
    intervalMs: rng.int(0, 10),
    payloadBytes: rng.next() < 0.2 ? rng.int(1_000, 20_000) : rng.int(0, 100),
  };
  if (rng.next() < 0.1) body.failAt = rng.int(1, steps);
  const task = await createTask(baseUrl, body);
  const work: Promise<unknown>[] = [];
  const subscribers = rng.int(1, 3);
  for (let i = 0; i < subscribers; i++) work.push(subscriber(baseUrl, task, rng, counters));
  if (rng.next() < 0.3) {
    work.push(
      (async () => {
        for (let i = rng.int(1, 4); i > 0; i--) {
          await sleep(rng.int(10, 200));
          const info = await getInfo(baseUrl, task.taskId, task.resumeKey);
          counters.infoPolls++;
          if (info.status !== 200) counters.problems.push(`info ${task.taskId}: ${info.status}`);
        }
      })(),
    );
  }
  if (rng.next() < 0.1) {
    work.push(
      (async () => {
        await sleep(rng.int(0, 300));
        const answer = await cancelTask(baseUrl, task.taskId, task.resumeKey);
        if (answer.status !== 202 && answer.status !== 409) {
          counters.problems.push(`cancel ${task.taskId}: ${answer.status}`);
        }
      })(),
    );
  }
  const ends = (await Promise.all(work.slice(0, subscribers))) as string[];
  await Promise.all(work);
  const status = ends[0];
  if (status === 'completed') counters.completed++;
  else if (status === 'failed') counters.failed++;
  else if (status === 'cancelled') counters.cancelled++;
  if (ends.some((end) => end !== status))
    counters.problems.push(`task ${task.taskId}: ends ${ends.join(', ')}`);
  if (rng.next() < 0.2) {
    // A late subscriber replays the finished task (within its TTL).
    const replay = await readStream(baseUrl + task.streamUrl, 0, counters);
    counters.lateReplays++;
    if (replay.end !== status) counters.problems.push(`late replay of ${task.taskId}: ${replay.end}`);
  }
  if (rng.next() < 0.05) {
    // After the TTL the task answers 410 (expired), later 404 (forgotten).
    await sleep(ttlMs + rng.int(100, 1_000));
    const info = await getInfo(baseUrl, task.taskId, task.resumeKey);
    counters.expiredProbes++;
    if (info.status !== 410 && info.status !== 404) {
      counters.problems.push(`expired ${task.taskId}: ${info.status}`);
    }
  }
}

async function load(
  baseUrl: string,
  seconds: number,
  concurrency: number,
  rng: Random,
  ttlMs: number,
  counters: Counters,
) {
  const deadline = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      const workerRng = new Random((rng.seed + worker * 7919) >>> 0);
      while (Date.now() < deadline) {
        await session(baseUrl, workerRng, counters, ttlMs).catch((err: unknown) => {
          counters.problems.push(`session: ${err instanceof Error ? err.message : String(err)}`);
        });
      }
    }),
  );
}

async function main(): Promise<void> {
  const seconds = Number(arg('seconds', '100'));
  const concurrency = Number(arg('concurrency', '16'));
  const adapter = arg('adapter', 'express') as Adapter;
  const seed = Number(arg('seed', String(Math.floor(Math.random() * 4_294_967_296))));
  const ttlMs = Number(process.env.SOAK_TTL_MS ?? 2_000);
  if (typeof (globalThis as { gc?: unknown }).gc !== 'function') {
    console.warn('soak: run with --expose-gc for exact figures (npm run soak does)');
  }
  console.log(
    `soak: node ${process.version}, ${adapter}, ${seconds} s + 10 s warm-up, ${concurrency} concurrent sessions, ` +
      `TTL ${ttlMs} ms, seed ${seed}`,
  );
  const server = await startApp(adapter, { TASK_TTL_MS: String(ttlMs), HEARTBEAT_MS: '1000' });
  const rng = new Random(seed);
  const counters: Counters = {
    sessions: 0,
    completed: 0,
    failed: 0,
    cancelled: 0,
    streams: 0,
    resumes: 0,
    lateReplays: 0,
    events: 0,
    infoPolls: 0,
    expiredProbes: 0,
    problems: [],
  };
  const settle = async () => {
    // Expired after one TTL, forgotten after a second; the eviction job runs every TTL.
    await sleep(3 * ttlMs + 500);
  };
  try {
    await load(server.baseUrl, 10, concurrency, rng, ttlMs, counters);
    await settle();
    const start = await snapshot(server.app);
    console.log(`baseline (after warm-up): ${describe(start)}`);

    const started = Date.now();
    const ticker = setInterval(() => {
      const memory = process.memoryUsage();
      const stats = server.app.get<InMemoryTaskStore>(TaskStore).stats();
      console.log(
        `  t=${Math.round((Date.now() - started) / 1000)} s: sessions ${counters.sessions}, streams ${counters.streams}, ` +
          `events ${counters.events}, store tasks ${stats.tasks} (expired ${stats.tombstones}), ` +
          `RSS ${(memory.rss / 1048576).toFixed(0)} MB, heap ${(memory.heapUsed / 1048576).toFixed(0)} MB, ` +
          `handles ${process.getActiveResourcesInfo().length}`,
      );
    }, 10_000);
    await load(server.baseUrl, seconds, concurrency, rng, ttlMs, counters);
    clearInterval(ticker);
    await settle();
    const end = await snapshot(server.app);
    console.log(`after the load, TTL x3 and GC: ${describe(end)}`);
    const { problems, ...totals } = counters;
    console.log(`totals: ${JSON.stringify(totals)}`);

    const rssDrift = (end.rssMb - start.rssMb) / start.rssMb;
    const handleDrift = (end.handles - start.handles) / start.handles;
    const heapDrift = (end.heapMb - start.heapMb) / start.heapMb;
    console.log(
      `drift: RSS ${(rssDrift * 100).toFixed(1)} %, heap ${(heapDrift * 100).toFixed(1)} %, handles ${(handleDrift * 100).toFixed(1)} %`,
    );
    const storeEmpty = Object.values(end.store).every((n) => n === 0);
    const serviceIdle = end.service.runningTasks === 0 && end.service.openStreams === 0;
    const failures: string[] = [...problems.slice(0, 10)];
    if (problems.length > 10) failures.push(`... ${problems.length - 10} more problems`);
    if (!storeEmpty) failures.push('the store is not empty after the TTL passed twice');
    if (!serviceIdle) failures.push('tasks or streams are still open');
    // Growth is what a leak looks like; less than the baseline is memory handed back.
    if (rssDrift > 0.1) failures.push('RSS grew by more than 10 % over the baseline');
    if (handleDrift > 0.1) failures.push('handles grew by more than 10 % over the baseline');
    for (const failure of failures) console.log(`  FAILED: ${failure}`);
    console.log(failures.length === 0 ? 'soak: OK' : 'soak: FAILED');
    process.exitCode = failures.length === 0 ? 0 : 1;
  } finally {
    await server.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
