import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { dataOf, parseFrames, type SseFrame } from '@app/sse-resume/testing/sse';
import { deleteKeys, TEST_REDIS_URL, uniquePrefix } from '@app/sse-resume/testing/redis';
import { readStream, requestJson, type CreatedTask } from '../utils/api';
import { type ChildApp, killChildApp, startChildApp } from '../utils/child-app';
import { appendToRunLog } from '../utils/log-capture';

/**
 * Issue 15, load: 1,000 durable tasks through 3 worker processes (the example app's
 * `dist/src/worker.js`, concurrency 10 each), started on an HTTP instance that runs no worker
 * (TASK_WORKERS=0), every task's stream read over HTTP and checked exact. No timing
 * assertions (the timings are in bench/RESULTS.md, `npm run bench:durable`).
 */
const TASKS = 1_000;
const STEPS = 3;
const WORKERS = 3;
/** Tasks started and read at once (each: POST, then its stream to the end). */
const IN_FLIGHT = 50;
const ROOT = resolve(__dirname, '../..');
const PREFIX = uniquePrefix('load');
const QUEUE = `load-${PREFIX.replace(/[^a-z0-9]+/gi, '-')}`;
const ENV = {
  REDIS_URL: TEST_REDIS_URL,
  REDIS_KEY_PREFIX: PREFIX,
  DURABLE_QUEUE: QUEUE,
  DURABLE_CONCURRENCY: '10',
};
const READY_TIMEOUT_MS = 30_000;

interface WorkerProcess {
  child: ChildProcess;
  exited: Promise<unknown>;
  output: () => string;
}

/** `node dist/src/worker.js` with `env`; resolves once it logged `worker ready`. */
async function startWorker(env: Record<string, string>): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [resolve(ROOT, 'dist/src/worker.js')], {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: '1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = once(child, 'exit');
  await new Promise<void>((ready, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`worker not ready in ${READY_TIMEOUT_MS} ms:\n${output}`)),
      READY_TIMEOUT_MS,
    );
    const onData = (data: Buffer): void => {
      output += data.toString();
      if (/worker ready/.test(output)) {
        clearTimeout(timer);
        ready();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then(([code, signal]) => {
      clearTimeout(timer);
      reject(new Error(`worker exited (${code ?? signal}) before it was ready:\n${output}`));
    });
  });
  child.once('close', () => appendToRunLog(output));
  return { child, exited, output: () => output };
}

/** SIGTERM (graceful: nothing runs any more), SIGKILL if it is still there after 10 s. */
async function stopWorker(worker: WorkerProcess | undefined): Promise<void> {
  if (!worker || worker.child.exitCode !== null || worker.child.signalCode !== null) return;
  worker.child.kill('SIGTERM');
  const timer = setTimeout(() => worker.child.kill('SIGKILL'), 10_000);
  await worker.exited;
  clearTimeout(timer);
}

/** Why a task's stream is not exact (ids 1..n, STEPS progress in order, one `end` completed, last), or undefined. */
function streamProblem(frames: readonly SseFrame[]): string | undefined {
  const events = frames.filter((frame) => frame.event !== undefined);
  const ids = events.map((frame) => Number(frame.id));
  if (ids.some((id, k) => id !== k + 1)) return `ids ${ids.join(',')}`;
  const steps = events
    .filter((frame) => frame.event === 'progress')
    .map((frame) => dataOf<{ step: number }>(frame).step);
  if (steps.length !== STEPS || steps.some((step, k) => step !== k + 1)) return `steps ${steps.join(',')}`;
  const kinds = events.map((frame) => frame.event).join(',');
  if (kinds !== `${'progress,'.repeat(STEPS)}end`) return `events ${kinds}`;
  const end = dataOf<{ status: string }>(events[events.length - 1]!);
  if (end.status !== 'completed') return `end ${JSON.stringify(end)}`;
  return undefined;
}

describe('durable tasks under load (3 workers x concurrency 10)', () => {
  let http: ChildApp | undefined;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    const started = await Promise.allSettled([
      startChildApp({ ...ENV, TASK_WORKERS: '0' }),
      ...Array.from({ length: WORKERS }, () => startWorker(ENV)),
    ]);
    for (const result of started) {
      if (result.status === 'rejected') continue;
      if ('url' in result.value) http = result.value;
      else workers.push(result.value);
    }
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
  }, 60_000);

  afterAll(async () => {
    await Promise.all([killChildApp(http), ...workers.map((worker) => stopWorker(worker))]);
    await deleteKeys(PREFIX);
    await deleteKeys(`bull:${QUEUE}:`);
  }, 30_000);

  it(`runs ${TASKS} durable tasks, every stream exact`, async () => {
    const base = http!.url;
    const problems: string[] = [];
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < TASKS) {
        const index = next++;
        const created = await requestJson<CreatedTask>(base, 'POST', '/tasks', {
          body: JSON.stringify({ durable: true, steps: STEPS, intervalMs: 0 }),
        });
        if (created.status !== 201) {
          problems.push(`task ${index}: POST answered ${created.status} ${created.text}`);
          continue;
        }
        const response = await readStream(base, created.json.streamUrl);
        const problem =
          response.status !== 200
            ? `status ${response.status} ${response.text}`
            : streamProblem(parseFrames(response.text).frames);
        if (problem !== undefined) problems.push(`task ${index} (${created.json.taskId}): ${problem}`);
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
    expect({ failed: problems.length, first: problems.slice(0, 5) }).toEqual({ failed: 0, first: [] });
    // Every worker is alive, and none logged an error.
    for (const worker of workers) {
      expect(worker.child.exitCode).toBeNull();
      expect(worker.output()).not.toMatch(/\bERROR\b/);
    }
  }, 90_000);
});
