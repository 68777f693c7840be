import { Logger } from '@nestjs/common';
import { Redis } from 'ioredis';
import { hashResumeKey } from '../access/resume-key';
import { resolveOptions, storeLimits } from '../sse-resume.options';
import { InMemoryTaskStore } from '../stores/in-memory/in-memory-task-store';
import { TEST_REDIS_URL } from '../testing/redis';
import { JobMirror, LOST_WORKER_REASON, type MirrorStore } from './job-mirror';
import { QueueJobReader, type QueueStreamEntry } from './queue-job-reader';
import { taskIdOf } from './queue-stream-ids';
import { bridgeName, TestQueue } from './testing/bridge-harness';

const logger = new Logger('job-mirror-spec');

describe('JobMirror (memory store, real BullMQ keys)', () => {
  let q: TestQueue;
  let redis: Redis;
  let store: InMemoryTaskStore;
  let lookups: number;
  let counted: MirrorStore;

  const idOf = (jobId: string): string => taskIdOf(q.prefix, q.name, jobId);
  const mirror = (): JobMirror =>
    new JobMirror(counted, new QueueJobReader(redis, `${q.prefix}:${q.name}`), q.name, idOf, logger);

  async function createTask(jobId: string): Promise<string> {
    const taskId = idOf(jobId);
    await store.create({ taskId, keyHash: hashResumeKey('k'), createdAt: Date.now(), durable: true });
    return taskId;
  }

  async function history(taskId: string): Promise<{ id: number; type: string; data: unknown }[]> {
    const slice = await store.read(taskId, 0, 1_000);
    return slice.events.map((e) => ({ id: e.seq, type: e.type, data: JSON.parse(e.data) }));
  }

  const entry = (id: string, fields: Record<string, string>): QueueStreamEntry => ({ id, fields });

  beforeEach(() => {
    q = new TestQueue(bridgeName(), bridgeName());
    redis = new Redis(TEST_REDIS_URL);
    store = new InMemoryTaskStore(storeLimits(resolveOptions({})));
    lookups = 0;
    counted = new Proxy(store, {
      get(target, name: keyof InMemoryTaskStore) {
        if (name === 'lookup') lookups++;
        const value = target[name];
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  });

  afterEach(async () => {
    redis.disconnect();
    await q.cleanUp();
  });

  it('mirrors each stream entry once, however often and by however many mirrors it is applied', async () => {
    const job = await q.queue.add('j', {});
    const taskId = await createTask(job.id as string);
    const batch = [1, 2, 3].map((n) =>
      entry(`100-${n}`, { event: 'progress', jobId: job.id as string, data: String(n) }),
    );
    const [a, b] = [mirror(), mirror()];
    await Promise.all([a.apply(batch), b.apply(batch), a.apply(batch.slice(1))]);
    await b.apply(batch);
    expect(await history(taskId)).toEqual([1, 2, 3].map((n) => ({ id: n, type: 'progress', data: n })));
    // An older entry after a newer one is refused (order is the stream's).
    await a.apply([entry('99-0', { event: 'progress', jobId: job.id as string, data: '0' })]);
    expect((await history(taskId)).length).toBe(3);
  });

  it('skips jobs without a task with one lookup per batch, remembered for a second', async () => {
    const job = await q.queue.add('j', {});
    const m = mirror();
    await m.apply(
      [1, 2, 3].map((n) => entry(`5-${n}`, { event: 'progress', jobId: job.id as string, data: '1' })),
    );
    await m.apply([entry('6-0', { event: 'progress', jobId: job.id as string, data: '1' })]);
    expect(lookups).toBe(1);
    expect(m.size).toBe(0);
  });

  it('a stalled entry becomes retry {attempt, lost worker}; a requeue after a throw retry {attempt, reason}', async () => {
    const job = await q.queue.add('j', {});
    const jobId = job.id as string;
    const taskId = await createTask(jobId);
    const m = mirror();
    await redis.hincrby(`${q.prefix}:${q.name}:${jobId}`, 'stc', 1);
    await m.apply([
      entry('7-0', { event: 'waiting', jobId, prev: 'active' }),
      entry('7-1', { event: 'stalled', jobId }),
    ]);
    await redis.hset(`${q.prefix}:${q.name}:${jobId}`, 'atm', 1, 'failedReason', 'bad input');
    await m.apply([entry('8-0', { event: 'delayed', jobId, delay: '100' })]);
    // A requeue without a new throw (rate limit, moved back) adds nothing.
    await m.apply([entry('9-0', { event: 'waiting', jobId, prev: 'active' })]);
    expect(await history(taskId)).toEqual([
      { id: 1, type: 'retry', data: { attempt: 2, reason: LOST_WORKER_REASON } },
      { id: 2, type: 'retry', data: { attempt: 3, reason: 'bad input' } },
    ]);
  });

  it('logs go before the job events of a batch; completion ends the task once and stops the mirror', async () => {
    const job = await q.queue.add('j', {});
    const jobId = job.id as string;
    const taskId = await createTask(jobId);
    await job.log('first');
    const m = mirror();
    m.track(jobId);
    await m.apply([entry('10-0', { event: 'progress', jobId, data: '{"a":1}' })]);
    await job.log('second');
    await m.pollLogs();
    await m.apply([entry('11-0', { event: 'completed', jobId, returnvalue: '{"ok":true}', prev: 'active' })]);
    await m.apply([entry('12-0', { event: 'progress', jobId, data: '2' })]);
    expect(m.size).toBe(0);
    expect(await history(taskId)).toEqual([
      { id: 1, type: 'log', data: { line: 'first' } },
      { id: 2, type: 'progress', data: { a: 1 } },
      { id: 3, type: 'log', data: { line: 'second' } },
      { id: 4, type: 'end', data: { status: 'completed', result: { ok: true } } },
    ]);
  });

  it('failed and removed entries end the task failed', async () => {
    const [one, two] = [await q.queue.add('a', {}), await q.queue.add('b', {})];
    const [t1, t2] = [await createTask(one.id as string), await createTask(two.id as string)];
    await mirror().apply([
      entry('13-0', { event: 'failed', jobId: one.id as string, failedReason: 'no disk', prev: 'active' }),
      entry('13-1', { event: 'removed', jobId: two.id as string, prev: 'wait' }),
    ]);
    expect((await history(t1)).pop()).toEqual({
      id: 1,
      type: 'end',
      data: { status: 'failed', error: 'no disk' },
    });
    expect((await history(t2)).pop()).toEqual({
      id: 1,
      type: 'end',
      data: { status: 'failed', error: `Job ${two.id} was removed from queue ${q.name}` },
    });
  });

  it('a resync writes the current progress at its entry: refused if mirrored already, refusing older ones', async () => {
    const job = await q.queue.add('j', {});
    const jobId = job.id as string;
    const taskId = await createTask(jobId);
    await job.updateProgress(41);
    await job.updateProgress(42);
    const [older, newest] = (
      await redis.xrevrange(`${q.prefix}:${q.name}:events`, '+', '-', 'COUNT', 2)
    ).reverse();
    const m = mirror();
    m.track(jobId);
    await m.resyncAll();
    await m.resyncAll(); // once only
    await m.apply([
      entry(older?.[0] as string, { event: 'progress', jobId, data: '41' }),
      entry(newest?.[0] as string, { event: 'progress', jobId, data: '42' }),
    ]);
    await job.updateProgress(43);
    const [latest] = await redis.xrevrange(`${q.prefix}:${q.name}:events`, '+', '-', 'COUNT', 1);
    await m.apply([entry(latest?.[0] as string, { event: 'progress', jobId, data: '43' })]);
    expect(await history(taskId)).toEqual([
      { id: 1, type: 'progress', data: 42 },
      { id: 2, type: 'progress', data: 43 },
    ]);
  });

  it('a seed after its progress entry was mirrored adds no second progress', async () => {
    const job = await q.queue.add('j', {});
    const jobId = job.id as string;
    const taskId = await createTask(jobId);
    await job.updateProgress('p');
    const [newest] = await redis.xrevrange(`${q.prefix}:${q.name}:events`, '+', '-', 'COUNT', 1);
    const m = mirror();
    await m.apply([entry(newest?.[0] as string, { event: 'progress', jobId, data: '"p"' })]);
    await mirror().seed(jobId); // another instance's access()
    expect(await history(taskId)).toEqual([{ id: 1, type: 'progress', data: 'p' }]);
  });

  it('a task ended elsewhere (cancelled) stops its mirror without an error', async () => {
    const job = await q.queue.add('j', {});
    const jobId = job.id as string;
    const taskId = await createTask(jobId);
    const m = mirror();
    m.track(jobId);
    await store.finish(taskId, { status: 'cancelled', data: '{"status":"cancelled"}' });
    await m.apply([entry('70-0', { event: 'progress', jobId, data: '1' })]);
    expect(m.size).toBe(0);
  });
});
