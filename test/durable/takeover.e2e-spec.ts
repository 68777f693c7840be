import { setTimeout as sleep } from 'node:timers/promises';
import { createTask, getInfo, waitForInfo, type CreatedTask } from '../utils/api';
import type { ChildApp } from '../utils/child-app';
import { startCuttingProxy, type CuttingProxy } from '../utils/cutting-proxy';
import { followWithResume } from '../utils/resuming-client';
import {
  attemptStarts,
  durableEnv,
  logRecords,
  progressSteps,
  range,
  startDurableCluster,
  streamEvents,
  waitFor,
  type DurableCluster,
  type StreamEvent,
} from './durable-harness';

/**
 * Durable demo tasks survive the worker running them: 3 worker processes and 2 HTTP
 * instances that run none (TASK_WORKERS=0), real BullMQ on the shared Redis (a prefix and a
 * queue of this file's own, a 2 s job lock checked every second). Each task starts on HTTP #1
 * and is read through a cutting proxy in front of HTTP #2, resuming after every cut.
 */
const STEPS = 20;
const INTERVAL_MS = 150;

describe('durable tasks: a worker lost mid-task (real processes, real BullMQ)', () => {
  let cluster: DurableCluster;
  let proxy: CuttingProxy;
  let seed = 15_001;

  beforeAll(async () => {
    cluster = await startDurableCluster(durableEnv('takeover'), { workers: 3, http: 2 });
  }, 45_000);

  afterAll(async () => {
    await proxy?.close();
    await cluster?.close();
  });

  beforeEach(async () => {
    await proxy?.close();
    proxy = await startCuttingProxy({
      target: cluster.http[1]!.url,
      seed: seed++,
      minBytes: 300,
      maxBytes: 1_500,
      cutRequest: (line) => line.includes('/events'),
    });
  });

  const live = (): ChildApp[] =>
    cluster.workers.filter((worker) => worker.child.exitCode === null && worker.child.signalCode === null);

  /** Starts a task on HTTP #1 and follows it through the proxy; resolves with the worker running its first attempt. */
  async function startFollowed(): Promise<{
    task: CreatedTask;
    events: Promise<StreamEvent[]>;
    runner: ChildApp;
  }> {
    const task = await createTask(cluster.http[0]!.url, {
      steps: STEPS,
      intervalMs: INTERVAL_MS,
      durable: true,
    });
    const events = followWithResume(proxy.url, task.streamUrl).then((run) => streamEvents(run.events));
    events.catch(() => undefined); // awaited by the test; a rejection before that is not unhandled
    const first = await waitFor(
      () => attemptStarts(cluster.workers, task.taskId).find(({ attempt }) => attempt === 1),
      'a worker to start attempt 1',
    );
    return { task, events, runner: first.worker };
  }

  /** The worker (other than `runner`) that started attempt 2 of the task. */
  const takeover = (task: CreatedTask, runner: ChildApp) =>
    waitFor(
      () =>
        attemptStarts(
          cluster.workers.filter((worker) => worker !== runner),
          task.taskId,
        ).find(({ attempt }) => attempt === 2),
      'another worker to start attempt 2',
    );

  /** One `retry` (attempt 2), one `end` last: completed, every id once in order from 1. */
  function expectOneTakeover(events: StreamEvent[], reason?: RegExp): StreamEvent {
    expect(events.map((event) => event.id)).toEqual(range(events.length));
    const retries = events.filter((event) => event.type === 'retry');
    expect(retries).toHaveLength(1);
    expect(retries[0]!.data).toMatchObject({ attempt: 2, reason: expect.any(String) });
    if (reason) expect(retries[0]!.data.reason).toMatch(reason);
    expect(events.filter((event) => event.type === 'end')).toHaveLength(1);
    expect(events.at(-1)).toMatchObject({ type: 'end', data: { status: 'completed' } });
    return retries[0]!;
  }

  it('kill -9 of the worker running it: another resumes from its checkpoint; the stream goes on, every step once', async () => {
    const { task, events, runner } = await startFollowed();
    await waitForInfo(cluster.http[0]!.url, task, (info) => info.json.lastEventId >= 8, '8 events');
    const killedAt = Date.now();
    runner.child.kill('SIGKILL');
    await runner.exited;
    await takeover(task, runner);
    console.log(
      `durable takeover after kill -9 (lock 2 s, stalled check every 1 s): ${Date.now() - killedAt} ms`,
    );

    const stream = await events;
    const retry = expectOneTakeover(stream);
    const before = stream.filter((event) => event.id < retry.id);
    const after = stream.filter((event) => event.id > retry.id);
    // Resumed from the checkpoint (the step before the retry), not redone from step 1.
    const lastBefore = progressSteps(before).at(-1)!;
    expect(lastBefore).toBeGreaterThanOrEqual(8);
    expect(progressSteps(after)[0]).toBe(lastBefore + 1);
    expect(progressSteps(stream)).toEqual(range(STEPS));
    expect(new Set(before.filter((e) => e.type === 'progress').map((e) => e.data.attempt))).toEqual(
      new Set([1]),
    );
    expect(new Set(after.filter((e) => e.type === 'progress').map((e) => e.data.attempt))).toEqual(
      new Set([2]),
    );
    expect(proxy.cuts.length).toBeGreaterThan(0);

    const info = await getInfo(cluster.http[1]!.url, task.taskId, task.resumeKey);
    expect(info.json).toMatchObject({ status: 'completed', attempt: 2, lastEventId: stream.at(-1)!.id });
  }, 40_000);

  it('SIGSTOP longer than the lock, then SIGCONT: the woken worker writes nothing more; the task completes once', async () => {
    const { task, events, runner } = await startFollowed();
    await waitForInfo(cluster.http[0]!.url, task, (info) => info.json.lastEventId >= 5, '5 events');
    const stoppedAt = Date.now();
    runner.child.kill('SIGSTOP');
    try {
      await takeover(task, runner);
      await sleep(Math.max(0, stoppedAt + 4_000 - Date.now())); // stopped 4 s in all, twice the lock
    } finally {
      runner.child.kill('SIGCONT');
    }

    const stream = await events;
    expectOneTakeover(stream);
    // A write of the zombie after the takeover would repeat a step (or add one after `end`).
    expect(progressSteps(stream)).toEqual(range(STEPS));
    // It noticed that it lost the task (fenced by the store, or its lock renewal failed): a
    // line naming the task (its id, or BullMQ's job id, the same) and the fence or the lock.
    await waitFor(
      () =>
        logRecords(runner).find((record) => {
          const text = JSON.stringify(record.fields);
          return text.includes(task.taskId) && /fenc|lock/i.test(text);
        }),
      'the woken worker to log that it was fenced or lost its lock',
      5_000,
    );
    expect(runner.child.exitCode).toBeNull(); // still a worker
  }, 40_000);

  it('SIGTERM of the worker running it: the job is handed to another at once ("worker shut down")', async () => {
    expect(live().length).toBeGreaterThanOrEqual(2);
    const { task, events, runner } = await startFollowed();
    await waitForInfo(cluster.http[0]!.url, task, (info) => info.json.lastEventId >= 4, '4 events');
    const signalledAt = Date.now();
    runner.child.kill('SIGTERM');
    await takeover(task, runner);
    const takeoverMs = Date.now() - signalledAt;
    const exit = await runner.exited;
    expect(exit.code === 0 || exit.signal === 'SIGTERM').toBe(true);

    const stream = await events;
    expectOneTakeover(stream, /worker shut down/);
    expect(progressSteps(stream)).toEqual(range(STEPS));
    // Well under the 2 s lock: the job is moved back to the queue, not left to stall.
    expect(takeoverMs).toBeLessThan(2_000);
    console.log(`durable takeover after SIGTERM: ${takeoverMs} ms`);
  }, 40_000);
});
