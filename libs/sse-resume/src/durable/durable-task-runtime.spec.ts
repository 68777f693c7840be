import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import {
  DurableTasksDisabledError,
  InvalidTaskInputError,
  TaskAbortedError,
  TaskFencedError,
  TaskError,
  UnknownTaskHandlerError,
} from '../errors';
import type { DurableTaskContext, DurableTaskHandler } from '../interfaces/durable-task.interface';
import type { DurableTasksOptions } from '../interfaces/durable-options.interface';
import type { SseResumeOptions } from '../interfaces/sse-resume-options.interface';
import type { TaskEndedListener, TaskStore, TaskTermination } from '../interfaces/task-store.interface';
import { SseResumeModule } from '../sse-resume.module';
import { DURABLE_NEEDS_SHARED_STORE, DURABLE_STORE_WITHOUT_CLAIMS } from '../sse-resume.messages';
import { WORKER_LOST_REASON } from './durable.constants';
import { SseTaskService } from '../sse-task.service';
import { InMemoryTaskStore } from '../stores/in-memory/in-memory-task-store';
import { waitForMs } from '../testing/async';
import { testStoreLimits } from '../testing/limits';
import { deleteKeys, TEST_REDIS_URL, uniquePrefix } from '../testing/redis';
import { RedisTaskStore } from '../stores/redis/redis-task-store';
import { urlOptions } from './queue-connection';
import type { TaskEvent } from '../task-event';
import { DurableTaskRuntime } from './durable-task-runtime';
import { TaskHandler } from './task-handler.decorator';

/**
 * The memory store as if shared by the apps of this process (each app an "instance"), with
 * the ends of tasks reported to every app, as the Redis store does between instances.
 */
class SharedMemoryStore extends InMemoryTaskStore {
  override readonly shared: boolean = true;
  private readonly endedListeners = new Set<TaskEndedListener>();

  onTaskEnded(listener: TaskEndedListener): () => void {
    this.endedListeners.add(listener);
    return () => this.endedListeners.delete(listener);
  }

  override async finish(taskId: string, termination: TaskTermination): Promise<TaskEvent | undefined> {
    const end = await super.finish(taskId, termination);
    if (end) for (const listener of this.endedListeners) listener(taskId, termination.status);
    return end;
  }
}

/** What the handlers of this spec saw, by task id. */
const seen = new Map<
  string,
  { attempts: number[]; starts: number[]; checkpoints: unknown[]; aborts: { reason: unknown; at: number }[] }
>();
function record(ctx: DurableTaskContext): NonNullable<ReturnType<typeof seen.get>> {
  let entry = seen.get(ctx.taskId);
  if (!entry) seen.set(ctx.taskId, (entry = { attempts: [], starts: [], checkpoints: [], aborts: [] }));
  entry.attempts.push(ctx.attempt);
  entry.starts.push(Date.now());
  entry.checkpoints.push(ctx.lastCheckpoint);
  const aborts = entry.aborts;
  ctx.signal.addEventListener('abort', () => aborts.push({ reason: ctx.signal.reason, at: Date.now() }));
  return entry;
}

interface StepsInput {
  steps: number;
  stepMs?: number;
  /** Throw (a TaskError "boom at <step>") at this step in these attempts. */
  failAt?: { step: number; attempts: number[] };
}

/** Checkpoints after every step and resumes from the last checkpoint. */
@TaskHandler('steps')
@Injectable()
class StepsHandler implements DurableTaskHandler<StepsInput, { done: number }, object, { step: number }> {
  async run(input: StepsInput, ctx: DurableTaskContext<object, { step: number }>): Promise<{ done: number }> {
    record(ctx);
    for (let step = (ctx.lastCheckpoint?.step ?? 0) + 1; step <= input.steps; step++) {
      if (input.stepMs) await new Promise((resolve) => setTimeout(resolve, input.stepMs));
      if (input.failAt?.step === step && input.failAt.attempts.includes(ctx.attempt)) {
        throw new TaskError(`boom at ${step}`);
      }
      await ctx.checkpoint({ step }, { step });
    }
    return { done: input.steps };
  }
}

/** Emits once, then waits for its signal. */
@TaskHandler('wait')
@Injectable()
class WaitHandler implements DurableTaskHandler {
  async run(_input: unknown, ctx: DurableTaskContext): Promise<void> {
    record(ctx);
    await ctx.emit({ waiting: ctx.attempt });
    await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
  }
}

/** Emits every 20 ms until its signal aborts; keeps what its emits were refused with. */
@TaskHandler('ticker')
@Injectable()
class TickerHandler implements DurableTaskHandler {
  static readonly refusals = new Map<string, unknown[]>();

  async run(_input: unknown, ctx: DurableTaskContext): Promise<string> {
    record(ctx);
    const refusals: unknown[] = [];
    TickerHandler.refusals.set(ctx.taskId, refusals);
    for (let tick = 1; !ctx.signal.aborted; tick++) {
      await ctx.emit({ tick }).catch((err: unknown) => refusals.push(err));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await ctx.emit({ after: 'abort' }).catch((err: unknown) => refusals.push(err));
    return 'finished'; // never stored: the attempt is over
  }
}

interface Instance {
  app: INestApplicationContext;
  tasks: SseTaskService;
  runtime: DurableTaskRuntime;
}

/**
 * Each Nest app is one "instance" (an HTTP instance, a worker, or both). `memory`: one memory
 * store object that all apps share; `redis`: each app its own Redis store on one key prefix,
 * as separate processes would have.
 */
describe.each(['memory', 'redis'] as const)('durable tasks over the %s store (real BullMQ)', (kind) => {
  const queueName = `rt-${kind}-${randomBytes(4).toString('hex')}`;
  const prefix = 'rt-test';
  const keyPrefix = uniquePrefix('rt');
  /** The store as another instance sees it (reads, and claims of a would-be other worker). */
  let store: TaskStore;
  const open: Instance[] = [];

  function storeOption(): SseResumeOptions {
    return kind === 'memory' ? { store } : { store: 'redis', redis: { url: TEST_REDIS_URL, keyPrefix } };
  }

  async function boot(
    durable: DurableTasksOptions | null = {},
    options: SseResumeOptions = {},
  ): Promise<Instance> {
    const moduleRef = await Test.createTestingModule({
      imports: [
        ScheduleModule.forRoot(),
        SseResumeModule.forRoot({
          ...storeOption(),
          ...(durable && {
            durable: {
              connection: { url: TEST_REDIS_URL },
              queueName,
              prefix,
              lockDurationMs: 2_000,
              stalledIntervalMs: 1_000,
              backoff: 10,
              ...durable,
            },
          }),
          ...options,
        }),
      ],
      providers: [StepsHandler, WaitHandler, TickerHandler],
    }).compile();
    moduleRef.useLogger(false);
    const app = await moduleRef.init();
    const instance = { app, tasks: app.get(SseTaskService), runtime: app.get(DurableTaskRuntime) };
    open.push(instance);
    return instance;
  }

  async function close(instance: Instance): Promise<void> {
    open.splice(open.indexOf(instance), 1);
    await instance.app.close();
  }

  async function events(taskId: string): Promise<TaskEvent[]> {
    return (await store.read(taskId, 0, 1_000)).events;
  }

  async function ended(taskId: string, timeoutMs = 10_000): Promise<{ events: TaskEvent[]; end: unknown }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const list = await events(taskId);
      const last = list.at(-1);
      if (last?.type === 'end') return { events: list, end: JSON.parse(last.data) };
      if (Date.now() > deadline) throw new Error(`task ${taskId} did not end: ${JSON.stringify(list)}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  function expectContiguous(list: TaskEvent[]): void {
    expect(list.map((e) => e.seq)).toEqual(list.map((_, i) => i + 1));
    expect(list.filter((e) => e.type === 'end')).toHaveLength(1);
  }

  const typesAndData = (list: TaskEvent[]) => list.map((e) => [e.type, JSON.parse(e.data)]);

  beforeEach(async () => {
    if (kind === 'memory') {
      store = new SharedMemoryStore(testStoreLimits());
    } else {
      store = new RedisTaskStore(testStoreLimits(), { url: TEST_REDIS_URL, keyPrefix });
      await store.init?.();
    }
  });

  afterEach(async () => {
    for (const instance of [...open].reverse()) await close(instance);
    await store.close();
  });

  afterAll(async () => {
    const queue = new Queue(queueName, { connection: urlOptions(TEST_REDIS_URL), prefix });
    await queue.obliterate({ force: true });
    await queue.close();
    await deleteKeys(keyPrefix);
  });

  it('runs a durable task through a worker: contiguous ids, checkpoints, one end, attempt in the info', async () => {
    const { tasks } = await boot();
    const started = await tasks.start('steps', { steps: 3 }, { durable: true });
    expect(started).toEqual({ taskId: expect.any(String), resumeKey: expect.any(String) });
    const { events: list, end } = await ended(started.taskId);
    expectContiguous(list);
    expect(typesAndData(list)).toEqual([
      ['progress', { step: 1 }],
      ['progress', { step: 2 }],
      ['progress', { step: 3 }],
      ['end', { status: 'completed', result: { done: 3 } }],
    ]);
    expect(end).toEqual({ status: 'completed', result: { done: 3 } });
    expect(await tasks.getTaskInfo(started.taskId)).toMatchObject({ status: 'completed', attempt: 1 });
  });

  it('after a throw with attempts left: retry {attempt: 2, reason}, then attempt 2 from the last checkpoint', async () => {
    const { tasks } = await boot();
    const input: StepsInput = { steps: 4, failAt: { step: 3, attempts: [1] } };
    const { taskId } = await tasks.start('steps', input, { durable: true, attempts: 2 });
    const { events: list } = await ended(taskId);
    expectContiguous(list);
    expect(typesAndData(list)).toEqual([
      ['progress', { step: 1 }],
      ['progress', { step: 2 }],
      ['retry', { attempt: 2, reason: 'boom at 3' }],
      ['progress', { step: 3 }],
      ['progress', { step: 4 }],
      ['end', { status: 'completed', result: { done: 4 } }],
    ]);
    expect(seen.get(taskId)).toMatchObject({ attempts: [1, 2], checkpoints: [undefined, { step: 2 }] });
    expect(await tasks.getTaskInfo(taskId)).toMatchObject({ attempt: 2 });
  });

  it('attempts exhausted: end failed with the last error', async () => {
    const { tasks } = await boot();
    const input: StepsInput = { steps: 3, failAt: { step: 2, attempts: [1, 2] } };
    const { taskId } = await tasks.start('steps', input, { durable: true, attempts: 2 });
    const { events: list, end } = await ended(taskId);
    expectContiguous(list);
    expect(typesAndData(list)).toEqual([
      ['progress', { step: 1 }],
      ['retry', { attempt: 2, reason: 'boom at 2' }],
      ['end', { status: 'failed', error: 'boom at 2' }],
    ]);
    expect(end).toEqual({ status: 'failed', error: 'boom at 2' });
  });

  it("cancel from another instance aborts the running attempt's signal within 1 s; no retry", async () => {
    const worker = await boot();
    const front = await boot({ workers: false });
    const { taskId } = await front.tasks.start('wait', null, { durable: true });
    await waitForMs(() => (seen.get(taskId)?.attempts.length ?? 0) > 0, 'the attempt', 5_000);
    await waitForMs(() => worker.runtime.runningAttempts === 1, 'the attempt to run');
    const cancelledAt = Date.now();
    await front.tasks.cancel(taskId, 'stop it');
    await waitForMs(() => seen.get(taskId)!.aborts.length > 0, 'the abort', 1_000);
    const abort = seen.get(taskId)!.aborts[0]!;
    expect(abort.at - cancelledAt).toBeLessThan(1_000);
    expect(abort.reason).toBeInstanceOf(TaskAbortedError);
    expect((abort.reason as TaskAbortedError).code).toBe('cancelled');
    await waitForMs(() => worker.runtime.runningAttempts === 0, 'the attempt to end');
    const { events: list } = await ended(taskId);
    expect(typesAndData(list)).toEqual([
      ['progress', { waiting: 1 }],
      ['end', { status: 'cancelled', error: 'stop it' }],
    ]);
  });

  it('shutdown hands the job to another worker: retry "worker shut down", the other finishes, no failed end', async () => {
    const a = await boot();
    const b = await boot();
    const { taskId } = await a.tasks.start('steps', { steps: 6, stepMs: 50 }, { durable: true });
    await waitForMs(() => (seen.get(taskId)?.attempts.length ?? 0) === 1, 'the first attempt', 5_000);
    await waitForMs(() => a.runtime.runningAttempts + b.runtime.runningAttempts === 1, 'one running attempt');
    const running = a.runtime.runningAttempts === 1 ? a : b;
    const other = running === a ? b : a;
    await new Promise((resolve) => setTimeout(resolve, 120)); // a step or two done
    const closedAt = Date.now();
    await close(running);
    const { events: list, end } = await ended(taskId);
    expectContiguous(list);
    expect(end).toEqual({ status: 'completed', result: { done: 6 } });
    const retry = list.findIndex((e) => e.type === 'retry');
    expect(JSON.parse(list[retry]!.data)).toEqual({ attempt: 2, reason: 'worker shut down' });
    const steps = list
      .filter((e) => e.type === 'progress')
      .map((e) => (JSON.parse(e.data) as { step: number }).step);
    expect(steps).toEqual([1, 2, 3, 4, 5, 6]); // resumed after the last checkpoint, nothing redone
    expect(seen.get(taskId)!.attempts).toEqual([1, 2]);
    // Hand-over time: from the start of the shutdown to the start of the next attempt elsewhere.
    const takeoverMs = seen.get(taskId)!.starts[1]! - closedAt;
    console.log(`durable hand-over on shutdown: ${takeoverMs} ms`);
    expect(takeoverMs).toBeLessThan(1_000);
    expect(other.runtime.runningAttempts).toBe(0);
  });

  (kind === 'redis' ? it : it.skip)(
    'a newer claim elsewhere fences the running attempt: its emit rejects with TaskFencedError, its signal aborts, it never ends the task',
    async () => {
      const { tasks, runtime } = await boot();
      const { taskId } = await tasks.start('ticker', null, { durable: true });
      await waitForMs(
        () => TickerHandler.refusals.has(taskId) && runtime.runningAttempts === 1,
        'the attempt',
      );
      // Another instance claims the task (as a worker that took the job over would).
      const claim = await store.claim!(taskId, 'intruder');
      expect(claim.attempt).toBe(2);
      await waitForMs(() => seen.get(taskId)!.aborts.length > 0, 'the fence', 2_000);
      expect((seen.get(taskId)!.aborts[0]!.reason as TaskAbortedError).code).toBe('fenced');
      await waitForMs(() => runtime.runningAttempts === 0, 'the attempt to stop');
      const refusals = TickerHandler.refusals.get(taskId)!;
      expect(refusals.length).toBeGreaterThan(0);
      for (const refusal of refusals) expect(refusal).toBeInstanceOf(TaskFencedError);
      const before = await events(taskId);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await events(taskId)).toEqual(before); // not one event from the fenced attempt
      expect(before.every((e) => e.type === 'progress')).toBe(true);
      const lookup = await store.lookup(taskId);
      expect(lookup.state === 'found' && lookup.task.status).toBe('running'); // the task is the new owner's
      await store.append(taskId, 'progress', '{"by":"intruder"}');
      await tasks.cancel(taskId);
      const { events: list } = await ended(taskId);
      expectContiguous(list);
    },
  );

  it('a claim by a lost worker: the next attempt marks retry "worker lost" and starts from its checkpoint', async () => {
    const { tasks } = await boot();
    const { taskId } = await tasks.start('steps', { steps: 2 }, { durable: true, delay: 300 });
    // A worker that claimed the task, checkpointed, and died (its job went back to the queue).
    await store.claim!(taskId, 'dead-worker');
    await store.checkpoint!(taskId, 'progress', '{"step":1}', '{"step":1}');
    const { events: list } = await ended(taskId);
    expectContiguous(list);
    expect(typesAndData(list)).toEqual([
      ['progress', { step: 1 }],
      ['retry', { attempt: 2, reason: WORKER_LOST_REASON }],
      ['progress', { step: 2 }],
      ['end', { status: 'completed', result: { done: 2 } }],
    ]);
    expect(seen.get(taskId)).toMatchObject({ attempts: [2], checkpoints: [{ step: 1 }] });
  });

  it('a lost job lock (lockRenewalFailed) fences the attempt at once; the recovered job runs attempt 2', async () => {
    const { tasks, runtime } = await boot({ lockDurationMs: 1_000, stalledIntervalMs: 500 });
    const { taskId } = await tasks.start('wait', null, { durable: true });
    await waitForMs(() => runtime.runningAttempts === 1, 'the attempt');
    const redis = new Redis(TEST_REDIS_URL);
    await redis.del(`${prefix}:${queueName}:${taskId}:lock`); // as if the lock had lapsed
    redis.disconnect();
    await waitForMs(() => seen.get(taskId)!.aborts.length > 0, 'the fence', 3_000);
    expect((seen.get(taskId)!.aborts[0]!.reason as TaskAbortedError).code).toBe('fenced');
    await waitForMs(() => seen.get(taskId)!.attempts.length === 2, 'attempt 2', 5_000);
    await tasks.cancel(taskId);
    const { events: list } = await ended(taskId);
    expectContiguous(list);
    expect(typesAndData(list)).toEqual([
      ['progress', { waiting: 1 }],
      ['retry', { attempt: 2, reason: WORKER_LOST_REASON }],
      ['progress', { waiting: 2 }],
      ['end', { status: 'cancelled', error: 'Task cancelled' }],
    ]);
  });

  it('a final failure BullMQ decides alone (stalled too often) ends the task failed with its reason', async () => {
    const { tasks } = await boot({ workers: false });
    const { taskId } = await tasks.start('wait', null, { durable: true });
    const connection = urlOptions(TEST_REDIS_URL);
    // A foreign worker takes the job and vanishes without giving it back...
    let taken!: () => void;
    const wasTaken = new Promise<void>((resolve) => (taken = resolve));
    const vanishing = new Worker(
      queueName,
      async () => {
        taken();
        await new Promise(() => undefined);
      },
      { connection, prefix, lockDuration: 300, skipStalledCheck: true },
    );
    vanishing.on('error', () => undefined);
    await wasTaken;
    await vanishing.close(true);
    // ...a worker that allows no stall finds it: BullMQ 6 marks the job's failure and puts it
    // back in the queue, and the next worker that fetches it fails it without running it.
    const checker = new Worker(queueName, null, {
      connection,
      prefix,
      maxStalledCount: 0,
      stalledInterval: 200,
    });
    checker.on('error', () => undefined);
    void checker.startStalledCheckTimer();
    try {
      await boot({ maxStalledCount: 0 });
      const { end } = await ended(taskId, 5_000);
      expect(end).toEqual({ status: 'failed', error: 'job stalled more than allowable limit' });
      expect(seen.get(taskId)).toBeUndefined(); // no handler ran
    } finally {
      await checker.close();
    }
  });

  it('times out across attempts: the deadline counts from start', async () => {
    const { tasks } = await boot();
    const input: StepsInput = { steps: 100, stepMs: 20, failAt: { step: 2, attempts: [1] } };
    const { taskId } = await tasks.start('steps', input, { durable: true, timeoutMs: 300, attempts: 3 });
    const { events: list, end } = await ended(taskId);
    expectContiguous(list);
    expect(end).toEqual({ status: 'failed', error: 'Task timed out after 300 ms' });
    expect(list.filter((e) => e.type === 'retry')).toHaveLength(1);
    expect(seen.get(taskId)!.attempts).toEqual([1, 2]);
    expect((seen.get(taskId)!.aborts.at(-1)?.reason as TaskAbortedError).code).toBe('timeout');
  });

  it('runs a named task in this process without durable: attempt 1, checkpoints are emits', async () => {
    const { tasks, runtime } = await boot(null);
    const { taskId } = await tasks.start('steps', { steps: 2 });
    const { events: list } = await ended(taskId);
    expect(typesAndData(list)).toEqual([
      ['progress', { step: 1 }],
      ['progress', { step: 2 }],
      ['end', { status: 'completed', result: { done: 2 } }],
    ]);
    expect(seen.get(taskId)).toMatchObject({ attempts: [1], checkpoints: [undefined] });
    expect(runtime.runningAttempts).toBe(0);
    expect(await tasks.getTaskInfo(taskId)).not.toHaveProperty('attempt');
  });

  it('refuses an unknown handler name, listing the known ones', async () => {
    const { tasks } = await boot();
    await expect(tasks.start('pdf', {}, { durable: true })).rejects.toThrow(UnknownTaskHandlerError);
    await expect(tasks.start('pdf', {})).rejects.toThrow('(known: "steps", "ticker", "wait")');
  });

  it('refuses durable: true without the durable option', async () => {
    const { tasks } = await boot(null);
    await expect(tasks.start('steps', { steps: 1 }, { durable: true })).rejects.toThrow(
      DurableTasksDisabledError,
    );
  });

  it.each([
    ['a BigInt', 10n],
    ['a function', () => 1],
    [
      'a cycle',
      (() => {
        const cycle: Record<string, unknown> = {};
        cycle.self = cycle;
        return cycle;
      })(),
    ],
  ])('refuses an input that is not JSON (%s)', async (_name, input) => {
    const { tasks } = await boot();
    await expect(tasks.start('steps', input, { durable: true })).rejects.toThrow(InvalidTaskInputError);
  });

  it('refuses bad start options', async () => {
    const { tasks } = await boot();
    await expect(tasks.start('steps', {}, { durable: true, attempts: 0 })).rejects.toThrow(
      'attempts must be an integer from 1 to 1000, got 0',
    );
    await expect(tasks.start('steps', {}, { durable: true, backoff: -5 })).rejects.toThrow('option backoff');
  });

  it('fails the boot with durable and a store only this process sees', async () => {
    const local: TaskStore = new InMemoryTaskStore(testStoreLimits());
    const moduleRef = await Test.createTestingModule({
      imports: [ScheduleModule.forRoot(), SseResumeModule.forRoot({ store: local, durable: { queueName } })],
    }).compile();
    moduleRef.useLogger(false);
    await expect(moduleRef.init()).rejects.toThrow(DURABLE_NEEDS_SHARED_STORE);
    await moduleRef.close();
  });

  it('fails the boot with durable and a shared store that cannot claim tasks', async () => {
    const unclaiming = Object.assign(new SharedMemoryStore(testStoreLimits()), { claim: undefined });
    const moduleRef = await Test.createTestingModule({
      imports: [
        ScheduleModule.forRoot(),
        SseResumeModule.forRoot({ store: unclaiming, durable: { queueName } }),
      ],
    }).compile();
    moduleRef.useLogger(false);
    await expect(moduleRef.init()).rejects.toThrow(DURABLE_STORE_WITHOUT_CLAIMS);
    await moduleRef.close();
  });
});
