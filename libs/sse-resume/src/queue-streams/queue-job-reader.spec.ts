import type { Job } from 'bullmq';
import { Redis } from 'ioredis';
import { deferred } from '../testing/async';
import { TEST_REDIS_URL } from '../testing/redis';
import { QueueJobReader, toEntries } from './queue-job-reader';
import { bridgeName, TestQueue } from './testing/bridge-harness';

describe('QueueJobReader (real BullMQ)', () => {
  let q: TestQueue;
  let redis: Redis;
  let reader: QueueJobReader;

  beforeEach(() => {
    q = new TestQueue(bridgeName(), bridgeName());
    redis = new Redis(TEST_REDIS_URL);
    reader = new QueueJobReader(redis, `${q.prefix}:${q.name}`);
  });

  afterEach(async () => {
    redis.disconnect();
    await q.cleanUp();
  });

  it('reads a job: missing, waiting, with progress and logs, completed, failed after retries', async () => {
    expect(await reader.snapshot('nope')).toBeUndefined();
    const ok = await q.queue.add('ok', {});
    const bad = await q.queue.add('bad', {}, { attempts: 2 });
    expect(await reader.snapshot(ok.id as string)).toEqual({
      progress: undefined,
      finished: undefined,
      attemptsMade: 0,
      stalledCounter: 0,
      failedReason: undefined,
      at: expect.stringMatching(/^\d+-\d+$/),
    });
    const done = deferred();
    let finished = 0;
    const worker = q.worker(async (job: Job) => {
      await job.updateProgress({ at: 1 });
      await job.log('hello');
      if (job.name === 'bad') throw new Error(`bad ${job.attemptsMade}`);
      return [1, 2];
    });
    const settle = (): void => {
      if (++finished === 2) done.resolve();
    };
    worker.on('completed', settle);
    worker.on('failed', (job) => {
      if (job && job.attemptsMade >= 2) settle();
    });
    await done.promise;
    expect(await reader.snapshot(ok.id as string)).toMatchObject({
      progress: '{"at":1}',
      finished: { status: 'completed', result: '[1,2]' },
      attemptsMade: 1, // BullMQ counts the finished attempt too
    });
    expect(await reader.snapshot(bad.id as string)).toMatchObject({
      finished: { status: 'failed', reason: 'bad 1' },
      attemptsMade: 2,
      failedReason: 'bad 1',
    });
    expect(await reader.logs(bad.id as string, 0)).toEqual(['hello', 'hello']);
    expect(await reader.logs(bad.id as string, 1)).toEqual(['hello']);
  });

  it('reads the events stream: newest id, entries, whether entries after a cursor were trimmed', async () => {
    expect(await reader.lastStreamId()).toBe('0-0');
    expect(await reader.trimmedAfter('0-0')).toBe(false);
    const job = await q.queue.add('p', {});
    await job.updateProgress(5);
    const newest = await reader.lastStreamId();
    expect(newest).toMatch(/^\d+-\d+$/);
    const raw = (await redis.xrange(reader.eventsKey, newest, newest)) as [string, string[]][];
    expect(toEntries(raw)).toEqual([{ id: newest, fields: { event: 'progress', jobId: job.id, data: '5' } }]);
    expect((await reader.snapshot(job.id as string))?.at).toBe(newest);
    expect(await reader.lastProgressId(job.id as string, newest)).toBe(newest);
    expect(await reader.lastProgressId('other', newest)).toBeUndefined();
    expect(await reader.lastProgressId(job.id as string, '0-0')).toBeUndefined();
    expect(await reader.trimmedAfter('0-0')).toBe(false); // never trimmed
    await job.updateProgress(6);
    expect(await reader.trimmedAfter(newest)).toBe(false);
    const newer = await reader.lastStreamId();
    await redis.xtrim(reader.eventsKey, 'MINID', newer);
    expect(await reader.trimmedAfter('0-1')).toBe(true); // entries after 0-1 went
    // Conservative: the cursor's own entry went too, so a loss cannot be ruled out.
    expect(await reader.trimmedAfter(newest)).toBe(true);
    expect(await reader.trimmedAfter(newer)).toBe(false); // nothing after it
    await job.updateProgress(7);
    await redis.xtrim(reader.eventsKey, 'MAXLEN', 0);
    expect(await reader.trimmedAfter(newer)).toBe(true); // all gone
  });
});
