import { Job, Queue, UnrecoverableError } from 'bullmq';
import { randomBytes } from 'node:crypto';
import { TaskAbortedError } from '../errors';
import type { DurableTaskContext } from '../interfaces/durable-task.interface';
import { InMemoryTaskStore } from '../stores/in-memory/in-memory-task-store';
import { testStoreLimits } from '../testing/limits';
import { TEST_REDIS_URL } from '../testing/redis';
import { TaskSerializer } from '../tasks/task-serializer';
import type { TaskEvent } from '../task-event';
import { loadBullmq } from './bullmq-loader';
import { DurableJobProcessor } from './durable-job-processor';
import type { DurableJobData } from './durable-job-data';
import { urlOptions } from './queue-connection';
import { TaskHandlerRegistry } from './task-handler-registry';

/**
 * The processor on its own, with real BullMQ jobs that no worker holds (the paths that need
 * no job lock); the worker paths run in durable-task-runtime.spec.ts.
 */
describe('DurableJobProcessor', () => {
  const logger = { log: jest.fn(), error: jest.fn(), warn: jest.fn() };
  let store: InMemoryTaskStore;
  let registry: TaskHandlerRegistry;
  let processor: DurableJobProcessor;
  let queue: Queue<DurableJobData>;
  const contexts: DurableTaskContext[] = [];

  beforeAll(() => {
    queue = new Queue(`rt-proc-${randomBytes(4).toString('hex')}`, {
      connection: urlOptions(TEST_REDIS_URL),
      prefix: 'rt-test',
    });
  });

  afterAll(async () => {
    await queue.obliterate({ force: true });
    await queue.close();
  });

  beforeEach(async () => {
    store = new InMemoryTaskStore(testStoreLimits());
    registry = new TaskHandlerRegistry(undefined as never, undefined as never);
    contexts.length = 0;
    registry.register('echo', {
      run: async (input, ctx) => {
        contexts.push(ctx);
        await ctx.checkpoint({ at: 1 }, input);
        return input;
      },
    });
    registry.register('hang', {
      run: async (_input, ctx) => {
        contexts.push(ctx);
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
      },
    });
    const settings = { emitBytesPerTurn: 1 << 20, maxUnstoredBytes: 1 << 20 };
    processor = new DurableJobProcessor(
      await loadBullmq(),
      store,
      registry,
      new TaskSerializer(10_000, logger),
      settings,
      'me',
      logger,
    );
  });

  async function task(name: string, input: unknown = { n: 1 }): Promise<Job<DurableJobData>> {
    const taskId = `t-${randomBytes(4).toString('hex')}`;
    await store.create({ taskId, keyHash: 'h', createdAt: Date.now(), durable: true });
    return new Job(queue, name, { taskId, input }, { attempts: 2 });
  }

  async function events(taskId: string): Promise<[string, unknown][]> {
    return (await store.read(taskId, 0, 100)).events.map((e: TaskEvent) => [e.type, JSON.parse(e.data)]);
  }

  it('claims, runs the handler with attempt and checkpoint, and completes the task', async () => {
    const job = await task('echo');
    await processor.process(job, undefined);
    expect(contexts[0]).toMatchObject({ taskId: job.data.taskId, attempt: 1, lastCheckpoint: undefined });
    expect(await events(job.data.taskId)).toEqual([
      ['progress', { n: 1 }],
      ['end', { status: 'completed', result: { n: 1 } }],
    ]);
    expect(processor.size).toBe(0);
  });

  it('returns without running a task cancelled while its job waited', async () => {
    const job = await task('echo');
    await store.finish(job.data.taskId, { status: 'cancelled', data: '{"status":"cancelled"}' });
    await expect(processor.process(job, undefined)).resolves.toBeUndefined();
    expect(contexts).toHaveLength(0);
  });

  it('fails the task and the job (unrecoverable) when this worker has no such handler', async () => {
    const job = await task('pdf');
    await expect(processor.process(job, undefined)).rejects.toThrow(UnrecoverableError);
    expect(await events(job.data.taskId)).toEqual([
      ['end', { status: 'failed', error: 'no task handler named "pdf" in this worker' }],
    ]);
  });

  it('stops the attempt of a task ended anywhere; the job completes (no retry)', async () => {
    const job = await task('hang');
    const processing = processor.process(job, undefined);
    await new Promise((resolve) => setImmediate(resolve));
    expect(processor.size).toBe(1);
    processor.taskEnded(job.data.taskId, 'cancelled');
    await expect(processing).resolves.toBeUndefined();
    expect((contexts[0]!.signal.reason as TaskAbortedError).code).toBe('cancelled');
  });

  it('fences the attempt of a job whose lock was lost, without ending the task', async () => {
    const job = await task('hang');
    const processing = processor.process(job, undefined);
    await new Promise((resolve) => setImmediate(resolve));
    processor.locksLost([job.data.taskId, 'some-other-job']);
    await expect(processing).resolves.toBeUndefined();
    expect((contexts[0]!.signal.reason as TaskAbortedError).code).toBe('fenced');
    await expect(contexts[0]!.emit(1)).rejects.toThrow('claimed by a newer attempt');
    const lookup = await store.lookup(job.data.taskId);
    expect(lookup.state === 'found' && lookup.task.status).toBe('running');
  });
});
