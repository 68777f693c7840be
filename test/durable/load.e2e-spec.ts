import { dataOf, parseFrames, type SseFrame } from '@app/sse-resume/testing/sse';
import { deleteKeys, TEST_REDIS_URL, uniquePrefix } from '@app/sse-resume/testing/redis';
import { readStream, requestJson, type CreatedTask } from '../utils/api';
import { type ChildApp, killChildApp, startChildApp, startChildWorker } from '../utils/child-app';
import { ATTEMPT_STARTED } from './durable-harness';

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
const PREFIX = uniquePrefix('load');
const QUEUE = `load-${PREFIX.replace(/[^a-z0-9]+/gi, '-')}`;
const ENV = {
  REDIS_URL: TEST_REDIS_URL,
  REDIS_KEY_PREFIX: PREFIX,
  DURABLE_QUEUE: QUEUE,
  DURABLE_CONCURRENCY: '10',
};

/** SIGTERM (graceful: nothing runs any more), SIGKILL if it is still there after 10 s. */
async function stopWorker(worker: ChildApp): Promise<void> {
  if (worker.child.exitCode !== null || worker.child.signalCode !== null) return;
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
  const workers: ChildApp[] = [];

  beforeAll(async () => {
    const started = await Promise.allSettled([
      startChildApp({ ...ENV, TASK_WORKERS: '0' }),
      ...Array.from({ length: WORKERS }, () => startChildWorker(ENV)),
    ]);
    for (const [k, result] of started.entries()) {
      if (result.status === 'rejected') continue;
      if (k === 0) http = result.value;
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
    // Every worker is alive, ran some of the tasks, and logged no error; one attempt per task.
    const attempts = workers.map((worker) => worker.output().split(ATTEMPT_STARTED).length - 1);
    expect({
      total: attempts.reduce((sum, n) => sum + n, 0),
      idle: attempts.filter((n) => n === 0).length,
    }).toEqual({
      total: TASKS,
      idle: 0,
    });
    for (const worker of workers) {
      expect(worker.child.exitCode).toBeNull();
      expect(worker.output()).not.toMatch(/\bERROR\b/);
    }
  }, 90_000);
});
