import { Logger } from '@nestjs/common';
import type { Job } from 'bullmq';
import { Redis } from 'ioredis';
import { hashResumeKey } from '../access/resume-key';
import { StoreUnavailableError } from '../errors';
import { resolveOptions, storeLimits } from '../sse-resume.options';
import { InMemoryTaskStore } from '../stores/in-memory/in-memory-task-store';
import { deferred, waitForMs } from '../testing/async';
import { TEST_REDIS_URL } from '../testing/redis';
import { JobMirror, type MirrorStore } from './job-mirror';
import { QueueEventLoop } from './queue-event-loop';
import { QueueJobReader } from './queue-job-reader';
import { taskIdOf } from './queue-stream-ids';
import { bridgeName, FAST_TIMING, TestQueue } from './testing/bridge-harness';

const logger = new Logger('queue-event-loop-spec');
logger.warn = () => undefined; // the trim and retry warnings are expected here

describe('QueueEventLoop (real BullMQ, memory store)', () => {
  let q: TestQueue;
  let commands: Redis;
  let store: InMemoryTaskStore;
  let loops: QueueEventLoop[];
  let cursorKey: string;

  beforeEach(() => {
    q = new TestQueue(bridgeName(), bridgeName());
    commands = new Redis(TEST_REDIS_URL);
    store = new InMemoryTaskStore(storeLimits(resolveOptions({})));
    loops = [];
    cursorKey = `${q.prefix}:${q.name}:sse-resume:cursor:test`;
  });

  afterEach(async () => {
    await Promise.all(loops.map((loop) => loop.stop()));
    commands.disconnect();
    await q.cleanUp();
  });

  async function startLoop(mirrorStore: MirrorStore = store, timing = FAST_TIMING): Promise<QueueEventLoop> {
    const reader = new QueueJobReader(commands, `${q.prefix}:${q.name}`);
    const mirror = new JobMirror(mirrorStore, reader, q.name, (id) => taskIdOf(q.prefix, q.name, id), logger);
    const blocking = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const loop = new QueueEventLoop(blocking, commands, reader, mirror, cursorKey, logger, timing);
    await loop.start();
    loops.push(loop);
    return loop;
  }

  async function stopLoop(loop: QueueEventLoop): Promise<void> {
    loops.splice(loops.indexOf(loop), 1);
    await loop.stop();
  }

  async function taskFor(job: Job): Promise<string> {
    const taskId = taskIdOf(q.prefix, q.name, job.id as string);
    await store.create({ taskId, keyHash: hashResumeKey('k'), createdAt: Date.now(), durable: true });
    return taskId;
  }

  /** Polls the store until the task has `count` events. */
  async function eventsReach(taskId: string, count: number, what: string): Promise<void> {
    const deadline = Date.now() + 5_000;
    while ((await store.read(taskId, 0, 1)).lastEventId < count) {
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}: ${JSON.stringify(await progressOf(taskId))}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  async function progressOf(taskId: string): Promise<unknown[]> {
    const { events } = await store.read(taskId, 0, 10_000);
    return events.filter((e) => e.type === 'progress').map((e) => JSON.parse(e.data));
  }

  it('stores its cursor; a restarted loop goes on from it', async () => {
    const job = await q.queue.add('j', {});
    const taskId = await taskFor(job);
    const first = await startLoop();
    await job.updateProgress(1);
    await eventsReach(taskId, 1, 'first event');
    await waitForMs(() => first.position !== '0-0', 'cursor');
    await stopLoop(first);
    expect(await commands.get(cursorKey)).toBe(first.position);
    await job.updateProgress(2);
    await job.updateProgress(3);
    await startLoop();
    await eventsReach(taskId, 3, 'events after the restart');
    expect(await progressOf(taskId)).toEqual([1, 2, 3]);
  });

  it('without a stored cursor starts at the newest entry', async () => {
    const job = await q.queue.add('j', {});
    const taskId = await taskFor(job);
    await job.updateProgress('old');
    await startLoop();
    await job.updateProgress('new');
    await eventsReach(taskId, 1, 'the new event');
    expect(await progressOf(taskId)).toEqual(['new']);
  });

  it('events trimmed while it was away: jobs resync to their current progress, never backward', async () => {
    const job = await q.queue.add('j', {});
    const taskId = await taskFor(job);
    const first = await startLoop();
    await job.updateProgress(0);
    await eventsReach(taskId, 1, 'first event');
    await waitForMs(() => first.position !== '0-0', 'cursor');
    await stopLoop(first);
    for (let n = 1; n <= 400; n++) await job.updateProgress(n);
    await commands.xtrim(`${q.prefix}:${q.name}:events`, 'MAXLEN', 10); // as BullMQ's MAXLEN would
    await startLoop(store, { ...FAST_TIMING, batch: 50 });
    await job.updateProgress(401);
    const deadline = Date.now() + 5_000;
    while ((await progressOf(taskId)).at(-1) !== 401 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    // 0, then the job's value when the loop came back (400, or 401 if that came first), then 401.
    const values = (await progressOf(taskId)) as number[];
    expect(values[0]).toBe(0);
    expect(values.at(-1)).toBe(401);
    expect(values.length).toBeLessThanOrEqual(3);
    expect([...new Set(values)].sort((x, y) => x - y)).toEqual(values);
  });

  it('a failed round is read again (the cursor waits), and stop() cuts a blocked read at once', async () => {
    const job = await q.queue.add('j', {});
    const taskId = await taskFor(job);
    let failures = 1;
    const flaky = new Proxy(store, {
      get(target, name: keyof InMemoryTaskStore) {
        if (name === 'appendOnce' && failures > 0) {
          return () => {
            failures--;
            return Promise.reject(new StoreUnavailableError('down for a moment'));
          };
        }
        const value = target[name];
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as MirrorStore;
    const loop = await startLoop(flaky, { ...FAST_TIMING, blockMs: 10_000 });
    await job.updateProgress('once');
    await eventsReach(taskId, 1, 'the retried event');
    expect(await progressOf(taskId)).toEqual(['once']);
    const stopped = deferred();
    const at = Date.now();
    void stopLoop(loop).then(() => stopped.resolve());
    await stopped.promise;
    expect(Date.now() - at).toBeLessThan(1_000);
  });
});
