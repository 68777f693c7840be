import { NotFoundException } from '@nestjs/common';
import type { Job } from 'bullmq';
import { ResumePointAtEndError, TaskNotFoundError } from '../errors';
import { deferred } from '../testing/async';
import { deleteKeys, TEST_REDIS_URL } from '../testing/redis';
import type { SseResumeOptions } from '../interfaces/sse-resume-options.interface';
import { lastValueFrom, toArray } from 'rxjs';
import { taskIdOf } from './queue-stream-ids';
import {
  BRIDGE_SECRET,
  bridgeName,
  eventsOf,
  readAll,
  startBridgeApp,
  TestQueue,
  type BridgeApp,
} from './testing/bridge-harness';

describe.each(['memory', 'redis'] as const)('QueueStreamService (%s store, real BullMQ)', (storeKind) => {
  let q: TestQueue;
  let bridge: BridgeApp;
  let storePrefix: string;

  beforeEach(async () => {
    q = new TestQueue(bridgeName(), bridgeName());
    storePrefix = `${bridgeName()}:`;
    const store: SseResumeOptions =
      storeKind === 'redis' ? { store: 'redis', redis: { url: TEST_REDIS_URL, keyPrefix: storePrefix } } : {};
    bridge = await startBridgeApp({
      ...store,
      queueStreams: {
        queues: [q.name],
        prefix: q.prefix,
        secret: BRIDGE_SECRET,
        connection: { url: TEST_REDIS_URL },
      },
    });
  });

  afterEach(async () => {
    await bridge.close();
    await q.cleanUp();
    await deleteKeys(storePrefix);
  });

  it('stream() opens the job and streams it like the task routes', async () => {
    const job = await q.queue.add('s', {});
    q.worker(async (j: Job) => {
      await j.updateProgress('half');
      return 'whole';
    });
    const messages = await lastValueFrom(
      (await bridge.bridge.stream(q.name, job.id as string)).pipe(toArray()),
    );
    expect(eventsOf(messages)).toEqual([
      { type: 'progress', id: 1, data: 'half' },
      { type: 'end', id: 2, data: { status: 'completed', result: 'whole' } },
    ]);
    const resumed = await lastValueFrom(
      (await bridge.bridge.stream(q.name, job.id as string, { lastEventId: 1 })).pipe(toArray()),
    );
    await expect(bridge.bridge.stream(q.name, job.id as string, { lastEventId: 2 })).rejects.toThrow(
      ResumePointAtEndError,
    );
    await expect(bridge.bridge.stream(q.name, 'none')).rejects.toThrow(TaskNotFoundError);
    expect(eventsOf(resumed)).toEqual([
      { type: 'end', id: 2, data: { status: 'completed', result: 'whole' } },
    ]);
  });

  it('streams a worker that only calls updateProgress, then its result', async () => {
    const job = await q.queue.add('p', { steps: 5 });
    const started = await bridge.bridge.access(q.name, job.id as string);
    expect(started.taskId).toBe(taskIdOf(q.prefix, q.name, job.id as string));
    q.worker(async (j: Job) => {
      for (let step = 1; step <= 5; step++) await j.updateProgress({ step });
      return { done: true };
    });
    const events = eventsOf(await readAll(bridge.tasks, started.taskId, started.resumeKey));
    expect(events).toEqual([
      ...[1, 2, 3, 4, 5].map((step) => ({ type: 'progress', id: step, data: { step } })),
      { type: 'end', id: 6, data: { status: 'completed', result: { done: true } } },
    ]);
  });

  it('mirrors job.log lines and a final failure after a retry', async () => {
    // With a backoff, as in production: the bridge reads the job while it waits for its next attempt.
    const job = await q.queue.add('l', {}, { attempts: 2, backoff: { type: 'fixed', delay: 50 } });
    const started = await bridge.bridge.access(q.name, job.id as string);
    q.worker(async (j: Job) => {
      await j.log(`try ${j.attemptsMade + 1}`);
      await j.updateProgress(j.attemptsMade + 1);
      throw new Error(`boom ${j.attemptsMade + 1}`);
    });
    const events = eventsOf(await readAll(bridge.tasks, started.taskId, started.resumeKey));
    expect(events).toEqual([
      { type: 'log', id: 1, data: { line: 'try 1' } },
      { type: 'progress', id: 2, data: 1 },
      { type: 'retry', id: 3, data: { attempt: 2, reason: 'boom 1' } },
      { type: 'log', id: 4, data: { line: 'try 2' } },
      { type: 'progress', id: 5, data: 2 },
      { type: 'end', id: 6, data: { status: 'failed', error: 'boom 2' } },
    ]);
  });

  it('seeds a task made after some progress: current progress and logs so far', async () => {
    const job = await q.queue.add('s', {});
    const gate = deferred();
    const reached = deferred();
    q.worker(async (j: Job) => {
      await j.log('one');
      await j.updateProgress(10);
      await j.log('two');
      await j.updateProgress(20);
      reached.resolve();
      await gate.promise;
      await j.updateProgress(30);
      return 'ok';
    });
    await reached.promise;
    const started = await bridge.bridge.access(q.name, job.id as string);
    gate.resolve();
    const events = eventsOf(await readAll(bridge.tasks, started.taskId, started.resumeKey));
    expect(events).toEqual([
      { type: 'progress', id: 1, data: 20 },
      { type: 'log', id: 2, data: { line: 'one' } },
      { type: 'log', id: 3, data: { line: 'two' } },
      { type: 'progress', id: 4, data: 30 },
      { type: 'end', id: 5, data: { status: 'completed', result: 'ok' } },
    ]);
  });

  it('a finished job is streamed at once, ended; access again returns the same task', async () => {
    const job = await q.queue.add('f', {});
    const done = deferred();
    const worker = q.worker(async (j: Job) => {
      await j.updateProgress(1);
      return 7;
    });
    worker.on('completed', () => done.resolve());
    await done.promise;
    const started = await bridge.bridge.access(q.name, job.id as string);
    expect(await bridge.bridge.access(q.name, job.id as string)).toEqual(started);
    expect(eventsOf(await readAll(bridge.tasks, started.taskId, started.resumeKey))).toEqual([
      { type: 'progress', id: 1, data: 1 },
      { type: 'end', id: 2, data: { status: 'completed', result: 7 } },
    ]);
  });

  it('a removed job ends its stream failed', async () => {
    const job = await q.queue.add('r', {}, { delay: 60_000 });
    const started = await bridge.bridge.access(q.name, job.id as string);
    await job.remove();
    const events = eventsOf(await readAll(bridge.tasks, started.taskId, started.resumeKey));
    expect(events).toEqual([
      {
        type: 'end',
        id: 1,
        data: { status: 'failed', error: `Job ${job.id} was removed from queue ${q.name}` },
      },
    ]);
  });

  it('refuses unknown queues and jobs', async () => {
    expect(() => bridge.bridge.taskIdOf('nope', '1')).toThrow(NotFoundException);
    await expect(bridge.bridge.access('nope', '1')).rejects.toThrow(NotFoundException);
    await expect(bridge.bridge.access(q.name, 'missing')).rejects.toThrow(TaskNotFoundError);
    expect(bridge.bridge.enabled).toBe(true);
  });

  it('the task answers GET with the derived resume key only', async () => {
    const job = await q.queue.add('k', {}, { delay: 60_000 });
    const { taskId, resumeKey } = await bridge.bridge.access(q.name, job.id as string);
    expect((await bridge.tasks.getTaskInfo(taskId, { resumeKey })).status).toBe('running');
    await expect(bridge.tasks.getTaskInfo(taskId, { resumeKey: 'x'.repeat(43) })).rejects.toThrow();
  });
});

describe('QueueStreamService without the option', () => {
  it('is disabled and starts nothing', async () => {
    const app = await startBridgeApp({});
    try {
      expect(app.bridge.enabled).toBe(false);
      expect(() => app.bridge.taskIdOf('q', '1')).toThrow(/not configured/);
    } finally {
      await app.close();
    }
  });
});
