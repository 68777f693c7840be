/**
 * The attacks of issue 10, as bounded stress scenarios (`npm run stress -- --only attacks`).
 *
 * 1. Memory: POSTS anonymous `POST /tasks` of 8 events x 1 MiB each (intervalMs 0) against
 *    the example app in a child process, CONCURRENCY at a time; prints the server's RSS
 *    (baseline, peak, after) and checks that it is still alive and answering, and that the
 *    first task (its history shed under the budget) still streams `gap` then `end`.
 * 2. Stall: latency of `GET /tasks/:id` (p50, p99) before and while a task of 100 000 events
 *    of 1 MiB runs; the task is cancelled after SAMPLES requests.
 *
 * Loopback only; every loop is bounded in count and time.
 */
import { readFileSync } from 'node:fs';
import { cancelTask, createTask, type CreatedTask, getInfo, readStream } from '../test/utils/api';
import { type ChildApp, killChildApp, startChildApp } from '../test/utils/child-app';
import { eventFrames, parseFrames } from '@app/sse-resume/testing/sse';

export interface MemoryAttackOptions {
  posts: number;
  concurrency: number;
  /** `HISTORY_BUDGET_BYTES` of the app; undefined = the library's default. */
  budgetBytes?: number;
  redisUrl?: string;
}

export interface MemoryAttackResult {
  admitted: number;
  refused: Record<number, number>;
  rssMb: { baseline: number; peak: number; after: number };
  alive: boolean;
  /** Event names the first task streams once everything ran. */
  firstTaskEvents: string[];
  elapsedMs: number;
}

export function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

/** Runs `work` while sampling the child's RSS every 50 ms; returns the peak. */
async function withPeakRss(pid: number, work: () => Promise<void>): Promise<number> {
  let peak = rssMb(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssMb(pid));
    } catch {
      // the process is gone: the caller sees it
    }
  }, 50);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return peak;
}

export async function runMemoryAttack(options: MemoryAttackOptions): Promise<MemoryAttackResult> {
  const env: Record<string, string> = { TASK_TTL_MS: '600000' };
  if (options.budgetBytes !== undefined) env.HISTORY_BUDGET_BYTES = String(options.budgetBytes);
  if (options.redisUrl)
    Object.assign(env, { REDIS_URL: options.redisUrl, REDIS_KEY_PREFIX: `attack${Date.now()}:` });
  const app: ChildApp = await startChildApp(env);
  const started = Date.now();
  try {
    const pid = app.child.pid!;
    const baseline = rssMb(pid);
    const tasks: CreatedTask[] = [];
    const refused: Record<number, number> = {};
    let next = 0;
    const body = JSON.stringify({ steps: 8, intervalMs: 0, payloadBytes: 1_048_576 });
    const peak = await withPeakRss(pid, async () => {
      const worker = async () => {
        while (next < options.posts && Date.now() - started < 300_000) {
          next++;
          try {
            tasks.push(await createTask(app.url, JSON.parse(body) as Record<string, number>));
          } catch (err) {
            const status = Number(/answered (\d+)/.exec(String(err))?.[1] ?? 0);
            refused[status] = (refused[status] ?? 0) + 1;
          }
        }
      };
      await Promise.all(Array.from({ length: options.concurrency }, worker));
      // Let the last tasks finish.
      const last = tasks[tasks.length - 1];
      for (let i = 0; last && i < 200; i++) {
        const info = await getInfo(app.url, last.taskId, last.resumeKey);
        if (info.json?.status !== 'running') break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    });
    const alive = app.child.exitCode === null && app.child.signalCode === null;
    let firstTaskEvents: string[] = [];
    if (alive && tasks[0]) {
      const stream = await readStream(app.url, `/tasks/${tasks[0].taskId}/events?key=${tasks[0].resumeKey}`);
      firstTaskEvents = eventFrames(parseFrames(stream.text).frames).map((f) => f.event ?? '');
    }
    return {
      admitted: tasks.length,
      refused,
      rssMb: { baseline, peak, after: alive ? rssMb(pid) : NaN },
      alive,
      firstTaskEvents,
      elapsedMs: Date.now() - started,
    };
  } finally {
    await killChildApp(app);
  }
}

export interface StallResult {
  before: { p50: number; p99: number };
  during: { p50: number; p99: number };
  /** Events the big task had emitted when the last sample was taken. */
  eventsDuring: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function sampleLatency(
  url: string,
  task: CreatedTask,
  samples: number,
): Promise<{ p50: number; p99: number }> {
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t0 = process.hrtime.bigint();
    await getInfo(url, task.taskId, task.resumeKey);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

export async function runStall(samples = 200): Promise<StallResult> {
  const app = await startChildApp({});
  try {
    const probe = await createTask(app.url, { steps: 1, intervalMs: 0 });
    const before = await sampleLatency(app.url, probe, samples);
    const big = await createTask(app.url, { steps: 100_000, intervalMs: 0, payloadBytes: 1_048_576 });
    const during = await sampleLatency(app.url, probe, samples);
    const info = await getInfo(app.url, big.taskId, big.resumeKey);
    await cancelTask(app.url, big.taskId, big.resumeKey);
    return { before, during, eventsDuring: info.json.lastEventId };
  } finally {
    await killChildApp(app);
  }
}

export function formatMemoryAttack(r: MemoryAttackResult, options: MemoryAttackOptions): string {
  const budget =
    options.budgetBytes === undefined ? 'default budget' : `budget ${options.budgetBytes / 2 ** 20} MiB`;
  return (
    `${options.posts} POSTs of 8 x 1 MiB (${options.redisUrl ? 'redis' : 'memory'}, ${budget}): ` +
    `${r.admitted} admitted, refused ${JSON.stringify(r.refused)}; RSS baseline ${r.rssMb.baseline.toFixed(0)} MB, ` +
    `peak ${r.rssMb.peak.toFixed(0)} MB, after ${r.rssMb.after.toFixed(0)} MB; ${r.alive ? 'alive' : 'DIED'}; ` +
    `first task streams [${r.firstTaskEvents.join(', ')}]; ${(r.elapsedMs / 1000).toFixed(1)} s`
  );
}

export function formatStall(r: StallResult): string {
  const ms = (x: { p50: number; p99: number }) => `p50 ${x.p50.toFixed(1)} ms, p99 ${x.p99.toFixed(1)} ms`;
  return `GET /tasks/:id before: ${ms(r.before)}; while 100 000 x 1 MiB runs: ${ms(r.during)} (task at event ${r.eventsDuring})`;
}
