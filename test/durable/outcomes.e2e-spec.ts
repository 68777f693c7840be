import { Queue } from 'bullmq';
import { cancelTask, createTask, getInfo, waitForInfo } from '../utils/api';
import { followWithResume } from '../utils/resuming-client';
import {
  REDIS_HOST,
  REDIS_PORT,
  attemptStarts,
  durableEnv,
  progressSteps,
  range,
  startDurableCluster,
  streamEvents,
  waitFor,
  type DurableCluster,
} from './durable-harness';

/**
 * How durable demo tasks end when no worker is lost: attempts exhausted, cancelled from
 * another instance. 2 worker processes, 2 HTTP instances with TASK_WORKERS=0, 2 attempts.
 */
describe('durable tasks: failure and cancel across processes (real BullMQ)', () => {
  let cluster: DurableCluster;
  let queue: Queue;

  beforeAll(async () => {
    cluster = await startDurableCluster(durableEnv('outcomes', { DURABLE_ATTEMPTS: '2' }), {
      workers: 2,
      http: 2,
    });
    queue = new Queue(cluster.env.DURABLE_QUEUE!, { connection: { host: REDIS_HOST, port: REDIS_PORT } });
  }, 45_000);

  afterAll(async () => {
    await queue?.close();
    await cluster?.close();
  });

  it('a throw in every attempt: one retry (attempt 2, resumed at the failing step), then end failed with the error', async () => {
    const task = await createTask(cluster.http[0]!.url, {
      steps: 10,
      intervalMs: 20,
      failAt: 5,
      durable: true,
    });
    const stream = streamEvents((await followWithResume(cluster.http[1]!.url, task.streamUrl)).events);

    expect(stream.map((event) => event.id)).toEqual(range(stream.length));
    const retries = stream.filter((event) => event.type === 'retry');
    expect(retries).toHaveLength(1);
    expect(retries[0]!.data).toMatchObject({ attempt: 2 });
    expect(retries[0]!.data.reason).toContain('failed at step 5');
    // Attempt 2 starts after the checkpoint of step 4, and fails at step 5 again.
    expect(progressSteps(stream)).toEqual([1, 2, 3, 4]);
    expect(stream.at(-1)).toMatchObject({
      type: 'end',
      data: { status: 'failed', error: 'failed at step 5' },
    });
    expect(stream.filter((event) => event.type === 'end')).toHaveLength(1);

    const info = await getInfo(cluster.http[0]!.url, task.taskId, task.resumeKey);
    expect(info.json).toMatchObject({ status: 'failed', attempt: 2, error: 'failed at step 5' });
  }, 30_000);

  it('cancel on HTTP #2 of a task running on a worker: the attempt stops within 1 s, end cancelled', async () => {
    const task = await createTask(cluster.http[0]!.url, { steps: 200, intervalMs: 50, durable: true });
    const run = followWithResume(cluster.http[1]!.url, task.streamUrl);
    await waitFor(() => attemptStarts(cluster.workers, task.taskId)[0], 'a worker to start the task');
    await waitForInfo(cluster.http[0]!.url, task, (info) => info.json.lastEventId >= 3, '3 events');

    const cancelledAt = Date.now();
    expect((await cancelTask(cluster.http[1]!.url, task.taskId, task.resumeKey)).status).toBe(202);
    // The worker's processor returns once the attempt is aborted: the job leaves `active`.
    const state = await waitFor(
      async () => {
        const current = await queue.getJobState(task.taskId);
        return current === 'active' ? undefined : current;
      },
      'the job to leave active',
      5_000,
    );
    const stoppedMs = Date.now() - cancelledAt;
    expect(state).toBe('completed');
    expect(stoppedMs).toBeLessThan(1_000);
    console.log(`durable cancel from another instance: the worker's job left active after ${stoppedMs} ms`);

    const stream = streamEvents((await run).events);
    expect(stream.map((event) => event.id)).toEqual(range(stream.length));
    expect(stream.at(-1)).toMatchObject({ type: 'end', data: { status: 'cancelled' } });
    expect(stream.filter((event) => event.type === 'retry')).toHaveLength(0);
    const steps = progressSteps(stream);
    expect(steps).toEqual(range(steps.length));
    // Nothing after the end: a stopped attempt would try to write (refused) or go on silently.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const info = await getInfo(cluster.http[0]!.url, task.taskId, task.resumeKey);
    expect(info.json).toMatchObject({ status: 'cancelled', lastEventId: stream.at(-1)!.id });
  }, 30_000);
});
