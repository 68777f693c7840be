import { Queue } from 'bullmq';
import { randomBytes } from 'node:crypto';
import { StoreUnavailableError } from '../errors';
import { InMemoryTaskStore } from '../stores/in-memory/in-memory-task-store';
import { resolveDurableOptions, resolveOptions } from '../sse-resume.options';
import { testStoreLimits } from '../testing/limits';
import { TEST_REDIS_URL } from '../testing/redis';
import { TaskSerializer } from '../tasks/task-serializer';
import type { DurableJobData } from './durable-job-data';
import { NamedTaskStarter } from './named-task-starter';
import { urlOptions } from './queue-connection';
import { TaskHandlerRegistry } from './task-handler-registry';

describe('NamedTaskStarter (durable starts on a real queue)', () => {
  const logger = { log: jest.fn(), error: jest.fn(), warn: jest.fn() };
  let queue: Queue<DurableJobData>;
  let store: InMemoryTaskStore;
  let starter: NamedTaskStarter;
  const noLocalRun = () => Promise.reject(new Error('not local'));

  beforeAll(() => {
    queue = new Queue(`rt-start-${randomBytes(4).toString('hex')}`, {
      connection: urlOptions(TEST_REDIS_URL),
      prefix: 'rt-test',
    });
  });

  afterAll(async () => {
    await queue.obliterate({ force: true });
    await queue.close();
  });

  function make(target: Queue<DurableJobData>): NamedTaskStarter {
    const registry = new TaskHandlerRegistry(undefined as never, undefined as never);
    registry.register('export', { run: () => 'done' });
    return new NamedTaskStarter(
      store,
      resolveOptions({ ttl: 60_000 }),
      resolveDurableOptions({ attempts: 4, backoff: 500 }),
      registry,
      new TaskSerializer(10_000, logger),
      () => target,
    );
  }

  beforeEach(() => {
    store = new InMemoryTaskStore(testStoreLimits());
    starter = make(queue);
  });

  it('creates the durable task without owner and adds its job (id = task id, options, deadline)', async () => {
    const before = Date.now();
    const started = await starter.start(
      'export',
      { file: 'a.csv' },
      { durable: true, priority: 2, delay: 60_000, timeoutMs: 5_000, metadata: { user: 'u1' } },
      noLocalRun,
    );
    const lookup = await store.lookup(started.taskId);
    expect(lookup.state === 'found' && lookup.task).toMatchObject({
      status: 'running',
      durable: true,
      attempt: 0,
      metadata: { user: 'u1' },
    });
    expect(lookup.state === 'found' && lookup.task.ownerId).toBeUndefined();
    const job = await queue.getJob(started.taskId);
    expect(job?.name).toBe('export');
    expect(job?.data).toMatchObject({ taskId: started.taskId, input: { file: 'a.csv' }, timeoutMs: 5_000 });
    expect(job!.data.deadline).toBeGreaterThanOrEqual(before + 5_000);
    expect(job?.opts).toMatchObject({
      attempts: 4,
      backoff: { type: 'fixed', delay: 500 },
      priority: 2,
      delay: 60_000,
    });
  });

  it('takes attempts and backoff of the start over the module defaults', async () => {
    const started = await starter.start(
      'export',
      null,
      { durable: true, attempts: 1, backoff: { type: 'exponential', delay: 10 }, delay: 60_000 },
      noLocalRun,
    );
    const job = await queue.getJob(started.taskId);
    expect(job?.opts).toMatchObject({ attempts: 1, backoff: { type: 'exponential', delay: 10 } });
  });

  it('a job that cannot be queued fails its task ("could not be queued") and answers 503', async () => {
    const closed = new Queue<DurableJobData>(`rt-closed-${randomBytes(4).toString('hex')}`, {
      connection: urlOptions(TEST_REDIS_URL),
      prefix: 'rt-test',
    });
    await closed.close();
    const failing = make(closed);
    const created: string[] = [];
    const create = store.create.bind(store);
    store.create = async (task) => {
      created.push(task.taskId);
      return create(task);
    };
    await expect(failing.start('export', {}, { durable: true }, noLocalRun)).rejects.toThrow(
      StoreUnavailableError,
    );
    const lookup = await store.lookup(created[0]!);
    expect(lookup.state === 'found' && lookup.task).toMatchObject({
      status: 'failed',
      error: 'Task could not be queued',
    });
  });
});
