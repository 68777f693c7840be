import { Logger, type MessageEvent } from '@nestjs/common';
import { finalize, of, Subject, throwError } from 'rxjs';
import {
  InvalidEventError,
  InvalidResumePointError,
  ResumeKeyInvalidError,
  ResumePointAtEndError,
  SseResumeError,
  StoreUnavailableError,
  TaskError,
  TaskExpiredError,
  TaskNotFoundError,
  TaskNotRunningError,
  TaskOverloadedError,
  TooManySubscribersError,
  TooManyTasksError,
} from './errors';
import type { TaskContext } from './interfaces/task-context.interface';
import type { StartedTask } from './interfaces/task-context.interface';
import type { TaskEndedListener } from './interfaces/task-store.interface';
import { resolveOptions, storeLimits } from './sse-resume.options';
import { TaskAbortedError } from './errors';
import { SseTaskService } from './sse-task.service';
import { InMemoryTaskStore } from './stores/in-memory/in-memory-task-store';
import { FAKE_TIMERS, collect, type Collected, deferred, nextTurn, turns, waitFor } from './testing/async';
import { ObservedTaskStore } from './testing/observed-store';
import { createService, shutDown } from './testing/service';
import { hashResumeKey } from './access/resume-key';
import { describeMessages } from './testing/sse';

const isHeartbeat = (m: MessageEvent) =>
  m.comment !== undefined && m.type === undefined && m.data === undefined && m.retry === undefined;
const isOpen = (m: MessageEvent) => m.retry !== undefined && m.type === undefined;
/** The task's events (and gaps) only: no open message, no heartbeats. */
const eventsOf = (values: readonly MessageEvent[]) => values.filter((m) => !isOpen(m) && !isHeartbeat(m));
const idsOf = (values: readonly MessageEvent[]) => eventsOf(values).map((m) => Number(m.id));
const range = (from: number, to: number) =>
  Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

function endData(values: readonly MessageEvent[]): unknown {
  const last = values[values.length - 1];
  expect(last?.type).toBe('end');
  return JSON.parse(typeof last?.data === 'string' ? last.data : JSON.stringify(last?.data));
}

/** Every message but heartbeats carries an explicit numeric id (Nest would auto-number the others). */
function expectExplicitIds(values: readonly MessageEvent[]): void {
  for (const message of values) {
    if (isHeartbeat(message)) expect(message.id).toBeUndefined();
    else expect(message.id).toMatch(/^(0|[1-9][0-9]*)$/);
  }
}

/** Streams a task to its end; rejects with the stream's error. */
async function streamToEnd(
  service: SseTaskService,
  task: StartedTask,
  lastEventId?: number,
): Promise<MessageEvent[]> {
  const collected = collect(service.stream(task.taskId, { resumeKey: task.resumeKey, lastEventId }));
  await collected.done;
  if (collected.error !== undefined) throw collected.error as Error;
  return collected.values;
}

/** Subscribes and resolves with the stream's error (which must come before any message). */
async function streamError(
  service: SseTaskService,
  taskId: string,
  options: { resumeKey: string | undefined; lastEventId?: number },
): Promise<unknown> {
  const collected = collect(service.stream(taskId, options));
  await collected.done;
  expect(collected.values).toEqual([]);
  expect(collected.completed).toBe(false);
  return collected.error;
}

function waitForOpen(collected: Collected<MessageEvent>): Promise<void> {
  return waitFor(() => collected.values.some(isOpen) || collected.finished, 'the open message');
}

async function waitForStatus(service: SseTaskService, taskId: string, status: string): Promise<void> {
  for (let i = 0; i < 2_000; i++) {
    if ((await service.getTaskInfo(taskId)).status === status) return;
    await nextTurn();
  }
  throw new Error(`task ${taskId} never reached ${status}`);
}

/** A task that waits until released (or aborted), exposing its context. */
function controllable() {
  const release = deferred<unknown>();
  const running = deferred();
  let context: TaskContext | undefined;
  const fn = async (ctx: TaskContext) => {
    context = ctx;
    running.resolve();
    const aborted = new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
    await Promise.race([release.promise, aborted]);
    return release.promise;
  };
  return {
    fn,
    release: (value?: unknown) => release.resolve(value),
    /** Resolves once the task function has been called. */
    running: running.promise,
    get ctx(): TaskContext {
      if (!context) throw new Error('the task has not started yet');
      return context;
    },
  };
}

describe('SseTaskService', () => {
  let service: SseTaskService;
  let store: InMemoryTaskStore;
  let logError: jest.SpyInstance;

  function setUp(options: Parameters<typeof createService>[0] = {}): void {
    ({ service, store } = createService(options));
  }

  beforeEach(() => {
    logError = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    setUp();
  });

  afterEach(async () => {
    jest.useRealTimers();
    await shutDown(service);
    jest.restoreAllMocks();
  });

  describe('start', () => {
    it('returns a task id and a 256-bit resume key at once, and runs the task detached', async () => {
      const task = controllable();
      const started = await service.start(task.fn);
      expect(started.taskId).toMatch(/^[0-9a-f-]{36}$/);
      expect(started.resumeKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect((await service.getTaskInfo(started.taskId)).status).toBe('running');
      await task.running;
      expect(task.ctx.taskId).toBe(started.taskId);
      expect(task.ctx.signal.aborted).toBe(false);
      expect(service.stats.runningTasks).toBe(1);
      task.release('ok');
      await waitForStatus(service, started.taskId, 'completed');
      expect(service.stats.runningTasks).toBe(0);
    });

    it('streams what the task emits, then its result in the end event', async () => {
      const ids: number[] = [];
      const started = await service.start(async (ctx) => {
        ids.push(await ctx.emit({ step: 1 }));
        ids.push(await ctx.emit('two'));
        ids.push(await ctx.emit(3, { event: 'custom' }));
        return { answer: 42 };
      });
      const values = await streamToEnd(service, started);
      expect(ids).toEqual([1, 2, 3]);
      expect(describeMessages(values)).toEqual([
        'open:0',
        'progress:1:{"step":1}',
        'progress:2:"two"',
        'custom:3:3',
        'end:4:{"status":"completed","result":{"answer":42}}',
      ]);
      expectExplicitIds(values);
    });

    it('leaves result out of the end event when the task returns nothing', async () => {
      const started = await service.start(async (ctx) => {
        await ctx.emit(null);
      });
      expect(endData(await streamToEnd(service, started))).toEqual({ status: 'completed' });
    });

    it.each([0, -1, 1.5, Number.NaN, 2 ** 31])(
      'refuses timeoutMs %p with a RangeError and creates nothing',
      async (timeoutMs) => {
        await expect(service.start(async () => 1, { timeoutMs })).rejects.toThrow(RangeError);
        expect(store.stats().tasks).toBe(0);
        expect(service.stats.runningTasks).toBe(0);
      },
    );

    it('refuses a task beyond maxTasks with TooManyTasksError (503)', async () => {
      setUp({ maxTasks: 2 });
      const task = controllable();
      await service.start(task.fn);
      await service.start(task.fn);
      const error = await service.start(task.fn).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(TooManyTasksError);
      expect((error as TooManyTasksError).getStatus()).toBe(503);
      task.release();
    });
  });

  describe('stream', () => {
    it('opens with the resume point and retry, then every event with an explicit id, then end, then completes', async () => {
      setUp({ retryMs: 1234 });
      const started = await service.start(async (ctx) => {
        for (let i = 1; i <= 5; i++) void ctx.emit({ i });
        return 'done';
      });
      const values = await streamToEnd(service, started);
      expect(values[0]).toMatchObject({ id: '0', retry: 1234 });
      expect(idsOf(values)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(eventsOf(values).map((m) => m.type)).toEqual([...Array<string>(5).fill('progress'), 'end']);
      expect(endData(values)).toEqual({ status: 'completed', result: 'done' });
      expectExplicitIds(values);
    });

    it('resumes after lastEventId: the missed events, then live ones, no duplicates', async () => {
      const task = controllable();
      const started = await service.start(task.fn);
      await task.running;
      for (let i = 1; i <= 5; i++) await task.ctx.emit(i);
      const collected = collect(
        service.stream(started.taskId, { resumeKey: started.resumeKey, lastEventId: 3 }),
      );
      await waitFor(() => idsOf(collected.values).length === 2, 'the replay');
      for (let i = 6; i <= 8; i++) await task.ctx.emit(i);
      task.release('r');
      await collected.done;
      expect(collected.values[0]).toMatchObject({ id: '3' });
      expect(idsOf(collected.values)).toEqual([4, 5, 6, 7, 8, 9]);
      expect(eventsOf(collected.values).map((m) => m.data)).toEqual([
        '4',
        '5',
        '6',
        '7',
        '8',
        '{"status":"completed","result":"r"}',
      ]);
    });

    it('replays a finished task (history and end) to a late subscriber', async () => {
      const started = await service.start(async (ctx) => {
        for (let i = 0; i < 3; i++) await ctx.emit(i);
        return 7;
      });
      await waitForStatus(service, started.taskId, 'completed');
      const values = await streamToEnd(service, started);
      expect(describeMessages(values)).toEqual([
        'open:0',
        'progress:1:0',
        'progress:2:1',
        'progress:3:2',
        'end:4:{"status":"completed","result":7}',
      ]);
      expect(idsOf(await streamToEnd(service, started, 2))).toEqual([3, 4]);
    });

    it('replays a long history in order, in several chunks, while new events keep arriving', async () => {
      const task = controllable();
      const started = await service.start(task.fn);
      await task.running;
      for (let i = 1; i <= 2_000; i++) void task.ctx.emit(i);
      const collected = collect(service.stream(started.taskId, { resumeKey: started.resumeKey }));
      for (let i = 2_001; i <= 2_600; i++) {
        void task.ctx.emit(i);
        if (i % 50 === 0) await nextTurn();
      }
      task.release();
      await collected.done;
      expect(idsOf(collected.values)).toEqual(range(1, 2_601));
    });

    it('gives every subscriber every event when several watch at once', async () => {
      const task = controllable();
      const started = await service.start(task.fn);
      const streams = ['a', 'b', 'c'].map((subscriberId) =>
        collect(service.stream(started.taskId, { resumeKey: started.resumeKey, subscriberId })),
      );
      await Promise.all(streams.map(waitForOpen));
      for (let i = 1; i <= 100; i++) void task.ctx.emit(i);
      task.release();
      await Promise.all(streams.map((s) => s.done));
      for (const s of streams) expect(idsOf(s.values)).toEqual(range(1, 101));
      // The same stored event objects go to every subscriber: nothing is serialized per subscriber.
      expect(eventsOf(streams[0]!.values)[10]).toBe(eventsOf(streams[1]!.values)[10]);
    });

    describe('refuses with a typed error before the first message', () => {
      let started: StartedTask;
      let task: ReturnType<typeof controllable>;

      beforeEach(async () => {
        task = controllable();
        started = await service.start(task.fn);
        await task.running;
        await task.ctx.emit('one');
        await task.ctx.emit('two');
      });

      afterEach(() => task.release());

      it('an unknown task: TaskNotFoundError (404)', async () => {
        const error = await streamError(service, 'no-such-task', { resumeKey: started.resumeKey });
        expect(error).toBeInstanceOf(TaskNotFoundError);
        expect((error as SseResumeError).getStatus()).toBe(404);
      });

      it.each([
        ['a wrong key', 'x'.repeat(43)],
        ['a missing key', undefined],
        ['an empty key', ''],
      ])('%s: ResumeKeyInvalidError (403)', async (_name, resumeKey) => {
        const error = await streamError(service, started.taskId, { resumeKey });
        expect(error).toBeInstanceOf(ResumeKeyInvalidError);
        expect((error as SseResumeError).getStatus()).toBe(403);
      });

      it("a resume point ahead of the task's last event: InvalidResumePointError (400)", async () => {
        const error = await streamError(service, started.taskId, {
          resumeKey: started.resumeKey,
          lastEventId: 3,
        });
        expect(error).toBeInstanceOf(InvalidResumePointError);
        expect((error as SseResumeError).getStatus()).toBe(400);
        expect((error as Error).message).toContain("event 3 does not exist (the task's last event is 2)");
      });

      it.each([-1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1])(
        'a malformed resume point %p: InvalidResumePointError (400)',
        async (lastEventId) => {
          const error = await streamError(service, started.taskId, {
            resumeKey: started.resumeKey,
            lastEventId,
          });
          expect(error).toBeInstanceOf(InvalidResumePointError);
        },
      );

      it('accepts the last event as resume point of a running task (nothing missed, goes live)', async () => {
        const collected = collect(
          service.stream(started.taskId, { resumeKey: started.resumeKey, lastEventId: 2 }),
        );
        await waitForOpen(collected);
        await task.ctx.emit('three');
        task.release();
        await collected.done;
        expect(idsOf(collected.values)).toEqual([3, 4]);
      });

      it('a resume point at or past the end: ResumePointAtEndError (204)', async () => {
        task.release();
        await waitForStatus(service, started.taskId, 'completed');
        for (const lastEventId of [3, 4, 1_000]) {
          const error = await streamError(service, started.taskId, {
            resumeKey: started.resumeKey,
            lastEventId,
          });
          expect(error).toBeInstanceOf(ResumePointAtEndError);
          expect((error as SseResumeError).getStatus()).toBe(204);
          expect(error).toMatchObject({ endEventId: 3 });
        }
        expect(idsOf(await streamToEnd(service, started, 2))).toEqual([3]);
      });

      it('too many subscribers: TooManySubscribersError (429), room again once one leaves', async () => {
        await shutDown(service);
        setUp({ maxSubscribersPerTask: 1 });
        const gate = controllable();
        const other = await service.start(gate.fn);
        const first = collect(service.stream(other.taskId, { resumeKey: other.resumeKey }));
        await waitForOpen(first);
        const error = await streamError(service, other.taskId, { resumeKey: other.resumeKey });
        expect(error).toBeInstanceOf(TooManySubscribersError);
        expect((error as SseResumeError).getStatus()).toBe(429);
        first.unsubscribe();
        const second = collect(service.stream(other.taskId, { resumeKey: other.resumeKey }));
        await waitForOpen(second);
        expect(second.error).toBeUndefined();
        gate.release();
        await second.done;
        expect(second.completed).toBe(true);
      });
    });

    describe('gaps', () => {
      it('sends one gap event {from,to} when historyLimit no longer reaches back', async () => {
        setUp({ historyLimit: 5 });
        const started = await service.start(async (ctx) => {
          for (let i = 1; i <= 10; i++) await ctx.emit(i);
        });
        await waitForStatus(service, started.taskId, 'completed');
        // Events 1..10 and end = 11; history keeps 7..11.
        const values = await streamToEnd(service, started);
        expect(describeMessages(values)).toEqual([
          'open:0',
          'gap:6:{"from":1,"to":6}',
          'progress:7:7',
          'progress:8:8',
          'progress:9:9',
          'progress:10:10',
          'end:11:{"status":"completed"}',
        ]);
        expectExplicitIds(values);
        expect(describeMessages(await streamToEnd(service, started, 4)).slice(0, 3)).toEqual([
          'open:4',
          'gap:6:{"from":5,"to":6}',
          'progress:7:7',
        ]);
        expect(describeMessages(await streamToEnd(service, started, 5)).slice(0, 3)).toEqual([
          'open:5',
          'gap:6:{"from":6,"to":6}',
          'progress:7:7',
        ]);
        // Resuming exactly where history starts needs no gap.
        expect(describeMessages(await streamToEnd(service, started, 6)).slice(0, 2)).toEqual([
          'open:6',
          'progress:7:7',
        ]);
      });

      it('sends a gap when historyBytes no longer reaches back', async () => {
        // Each progress event: '"xxxxxxxxxx"' (12) + 'progress' (8) = 20 bytes; the end: 22 + 3 = 25.
        setUp({ historyBytes: 100 });
        const started = await service.start(async (ctx) => {
          for (let i = 1; i <= 10; i++) await ctx.emit('x'.repeat(10));
        });
        await waitForStatus(service, started.taskId, 'completed');
        const values = await streamToEnd(service, started);
        expect(describeMessages(values.slice(0, 2))).toEqual(['open:0', 'gap:7:{"from":1,"to":7}']);
        expect(idsOf(values)).toEqual([7, 8, 9, 10, 11]);
      });
    });

    it('never cancels or stops the task when a subscriber disconnects', async () => {
      const task = controllable();
      const started = await service.start(task.fn);
      const leaving = collect(service.stream(started.taskId, { resumeKey: started.resumeKey }));
      await waitForOpen(leaving);
      await task.ctx.emit(1);
      await waitFor(() => idsOf(leaving.values).length === 1);
      leaving.unsubscribe();
      await turns(3);
      expect(task.ctx.signal.aborted).toBe(false);
      expect((await service.getTaskInfo(started.taskId)).status).toBe('running');
      expect(await task.ctx.emit(2)).toBe(2);
      task.release('fine');
      const values = await streamToEnd(service, started, 1);
      expect(idsOf(values)).toEqual([2, 3]);
      expect(endData(values)).toEqual({ status: 'completed', result: 'fine' });
      expect(idsOf(leaving.values)).toEqual([1]);
      expect(leaving.completed).toBe(false);
    });
  });

  describe('heartbeats (fake timers)', () => {
    it('sends comment-only pings on an idle stream, consuming no ids', async () => {
      jest.useFakeTimers(FAKE_TIMERS);
      setUp({ heartbeatMs: 1_000 });
      const task = controllable();
      const started = await service.start(task.fn);
      const collected = collect(service.stream(started.taskId, { resumeKey: started.resumeKey }));
      await waitForOpen(collected);
      const pings = () => collected.values.filter(isHeartbeat).length;

      // The open frame counts as output: the first tick after it (500 ms) stays quiet.
      await jest.advanceTimersByTimeAsync(999);
      expect(pings()).toBe(0);
      await jest.advanceTimersByTimeAsync(1);
      expect(pings()).toBe(1);
      // Never silent for longer than heartbeatMs.
      await jest.advanceTimersByTimeAsync(2_000);
      expect(pings()).toBe(5);
      expect(
        collected.values.filter(isHeartbeat).every((m) => m.comment === 'ping' && m.id === undefined),
      ).toBe(true);

      await task.ctx.emit('after pings');
      await waitFor(() => idsOf(collected.values).length === 1);
      expect(eventsOf(collected.values)[0]).toMatchObject({ id: '1', data: '"after pings"' });
      expectExplicitIds(collected.values);
      task.release();
      await collected.done;
    });

    it('sends none while events flow', async () => {
      jest.useFakeTimers(FAKE_TIMERS);
      setUp({ heartbeatMs: 1_000 });
      const task = controllable();
      const started = await service.start(task.fn);
      const collected = collect(service.stream(started.taskId, { resumeKey: started.resumeKey }));
      await waitForOpen(collected);
      for (let i = 1; i <= 10; i++) {
        await task.ctx.emit(i);
        await turns(2);
        await jest.advanceTimersByTimeAsync(400);
      }
      expect(collected.values.filter(isHeartbeat)).toEqual([]);
      expect(idsOf(collected.values)).toEqual(range(1, 10));
      task.release();
      await collected.done;
    });

    it('stops its ticker when the last stream closes', async () => {
      jest.useFakeTimers(FAKE_TIMERS);
      setUp({ heartbeatMs: 1_000 });
      const task = controllable();
      const started = await service.start(task.fn);
      expect(jest.getTimerCount()).toBe(0);
      const collected = collect(service.stream(started.taskId, { resumeKey: started.resumeKey }));
      await waitForOpen(collected);
      expect(jest.getTimerCount()).toBe(1);
      collected.unsubscribe();
      expect(jest.getTimerCount()).toBe(0);
      task.release();
    });
  });

  describe('executeWithSse (Go ExecuteWithSSE)', () => {
    it('without a key: starts a new task and streams it', async () => {
      const source = jest.fn(async (ctx: TaskContext) => {
        await ctx.emit('hi');
        return 1;
      });
      const result = await service.executeWithSse({}, source);
      expect(result.resumeKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const collected = collect(result.events$);
      await collected.done;
      expect(describeMessages(collected.values)).toEqual([
        'open:0',
        'progress:1:"hi"',
        'end:2:{"status":"completed","result":1}',
      ]);
      expect(source).toHaveBeenCalledTimes(1);
    });

    it('with a key and task id: resumes that task and never starts another', async () => {
      const task = controllable();
      const first = await service.executeWithSse({}, task.fn);
      await task.running;
      await task.ctx.emit('a');
      await task.ctx.emit('b');
      const again = jest.fn(async () => 'never');
      const resumed = await service.executeWithSse(
        { resumeKey: first.resumeKey, taskId: first.taskId, lastEventId: 1, subscriberId: 'tab-2' },
        again,
      );
      expect(resumed.taskId).toBe(first.taskId);
      expect(resumed.resumeKey).toBe(first.resumeKey);
      const collected = collect(resumed.events$);
      await waitForOpen(collected);
      expect((await service.getTaskInfo(first.taskId)).subscriberIds).toEqual(['tab-2']);
      task.release('end');
      await collected.done;
      expect(collected.values[0]).toMatchObject({ id: '1' });
      expect(idsOf(collected.values)).toEqual([2, 3]);
      await turns(3);
      expect(again).not.toHaveBeenCalled();
      expect(store.stats().tasks).toBe(1);
    });

    it('with only a key: finds the task by its key', async () => {
      const first = await service.start(async (ctx) => {
        await ctx.emit('x');
        return 'r';
      });
      const again = jest.fn(async () => 'never');
      const resumed = await service.executeWithSse({ resumeKey: first.resumeKey }, again);
      expect(resumed.taskId).toBe(first.taskId);
      const collected = collect(resumed.events$);
      await collected.done;
      expect(endData(collected.values)).toEqual({ status: 'completed', result: 'r' });
      expect(again).not.toHaveBeenCalled();
      expect(store.stats().tasks).toBe(1);
    });

    it('refuses an unknown key (404) or a wrong key for a task (403), starting nothing', async () => {
      const task = controllable();
      const first = await service.start(task.fn);
      const again = jest.fn(async () => 'never');
      await expect(service.executeWithSse({ resumeKey: 'nope' }, again)).rejects.toBeInstanceOf(
        TaskNotFoundError,
      );
      await expect(
        service.executeWithSse({ resumeKey: 'nope', taskId: first.taskId }, again),
      ).rejects.toBeInstanceOf(ResumeKeyInvalidError);
      await expect(
        service.executeWithSse({ resumeKey: first.resumeKey, taskId: 'other' }, again),
      ).rejects.toBeInstanceOf(TaskNotFoundError);
      expect(again).not.toHaveBeenCalled();
      expect(store.stats().tasks).toBe(1);
      task.release();
    });

    it('checks the resume point at once: 204 at the end, 400 ahead of the last event', async () => {
      const first = await service.start(async (ctx) => {
        await ctx.emit(1);
      });
      await waitForStatus(service, first.taskId, 'completed');
      const again = jest.fn(async () => 'never');
      await expect(
        service.executeWithSse({ resumeKey: first.resumeKey, lastEventId: 2 }, again),
      ).rejects.toBeInstanceOf(ResumePointAtEndError);
      const task = controllable();
      const running = await service.start(task.fn);
      await expect(
        service.executeWithSse({ resumeKey: running.resumeKey, lastEventId: 1 }, again),
      ).rejects.toBeInstanceOf(InvalidResumePointError);
      task.release();
    });
  });

  describe('updateProgress (Go UpdateProgress) and emit', () => {
    it('emits progress or named events on a running task and returns their ids', async () => {
      const task = controllable();
      const started = await service.start(task.fn);
      expect(await service.updateProgress(started.taskId, { pct: 10 })).toBe(1);
      expect(await service.updateProgress(started.taskId, { pct: 20 }, { event: 'stage.two' })).toBe(2);
      task.release();
      const values = await streamToEnd(service, started);
      expect(describeMessages(values).slice(1, 3)).toEqual([
        'progress:1:{"pct":10}',
        'stage.two:2:{"pct":20}',
      ]);
    });

    it('refuses a task that has ended (409) or does not exist (404)', async () => {
      const started = await service.start(async () => 'x');
      await waitForStatus(service, started.taskId, 'completed');
      await expect(service.updateProgress(started.taskId, 1)).rejects.toBeInstanceOf(TaskNotRunningError);
      await expect(service.updateProgress('nope', 1)).rejects.toBeInstanceOf(TaskNotFoundError);
    });

    it.each(['a-b_c.d:e', 'X'.repeat(64), 'stage:2'])('accepts the event name %p', async (event) => {
      const task = controllable();
      const started = await service.start(task.fn);
      await expect(service.updateProgress(started.taskId, 1, { event })).resolves.toBe(1);
      task.release();
    });

    it.each(['end', 'gap', 'error', 'message', '', 'has space', 'new\nline', 'X'.repeat(65), 'caf\u00e9'])(
      'refuses the event name %p with InvalidEventError (400), storing nothing',
      async (event) => {
        const task = controllable();
        const started = await service.start(task.fn);
        await task.running;
        expect(() => task.ctx.emit(1, { event })).toThrow(InvalidEventError);
        await expect(service.updateProgress(started.taskId, 1, { event })).rejects.toBeInstanceOf(
          InvalidEventError,
        );
        expect((await service.getTaskInfo(started.taskId)).lastEventId).toBe(0);
        task.release();
      },
    );

    it('refuses data that is not JSON-serializable or larger than maxEventBytes', async () => {
      setUp({ maxEventBytes: 100, historyBytes: 1_000 });
      const task = controllable();
      await service.start(task.fn);
      await task.running;
      const circular: Record<string, unknown> = {};
      circular.self = circular;
      expect(() => task.ctx.emit(10n)).toThrow(/data is not JSON-serializable/);
      expect(() => task.ctx.emit(circular)).toThrow(InvalidEventError);
      expect(() => task.ctx.emit('x'.repeat(99))).toThrow(
        'invalid event: data is 101 bytes, more than maxEventBytes (100)',
      );
      // 98 characters + quotes = 100 bytes: fits exactly.
      expect(await task.ctx.emit('x'.repeat(98))).toBe(1);
      // 40 euro signs are 42 characters but 122 bytes.
      expect(() => task.ctx.emit('\u20ac'.repeat(40))).toThrow(/122 bytes/);
      task.release();
    });

    it('stores undefined (and functions) as null', async () => {
      const started = await service.start(async (ctx) => {
        await ctx.emit(undefined);
        await ctx.emit(() => 1);
      });
      const values = await streamToEnd(service, started);
      expect(
        eventsOf(values)
          .slice(0, 2)
          .map((m) => m.data),
      ).toEqual(['null', 'null']);
    });
  });

  describe('ending a task: complete, fail, cancel, completeTask', () => {
    async function runningTask() {
      const task = controllable();
      const started = await service.start(task.fn);
      await task.running;
      await task.ctx.emit('work');
      return { task, started };
    }

    it('complete(result): completed, result in the end event, signal aborted as ended', async () => {
      const { task, started } = await runningTask();
      await service.complete(started.taskId, { rows: 3 });
      expect(task.ctx.signal.aborted).toBe(true);
      expect(task.ctx.signal.reason).toBeInstanceOf(TaskAbortedError);
      expect(task.ctx.signal.reason).toMatchObject({ code: 'ended' });
      const values = await streamToEnd(service, started);
      expect(endData(values)).toEqual({ status: 'completed', result: { rows: 3 } });
      // What the function returns afterwards changes nothing.
      task.release('late result');
      await turns(3);
      expect(endData(await streamToEnd(service, started))).toEqual({
        status: 'completed',
        result: { rows: 3 },
      });
    });

    it.each([
      ['a message', 'Quota exceeded'],
      ['an Error', new Error('Quota exceeded')],
    ])('fail(%s): failed with that public message', async (_name, error) => {
      const { started } = await runningTask();
      await service.fail(started.taskId, error);
      const info = await service.getTaskInfo(started.taskId);
      expect(info).toMatchObject({ status: 'failed', error: 'Quota exceeded' });
      expect(endData(await streamToEnd(service, started))).toEqual({
        status: 'failed',
        error: 'Quota exceeded',
      });
    });

    it('cancel: signal aborted as cancelled, every stream ends with status cancelled', async () => {
      const { task, started } = await runningTask();
      const open = collect(service.stream(started.taskId, { resumeKey: started.resumeKey }));
      await waitForOpen(open);
      await service.cancel(started.taskId, 'User pressed stop');
      expect(task.ctx.signal.aborted).toBe(true);
      expect(task.ctx.signal.reason).toMatchObject({ code: 'cancelled', message: 'User pressed stop' });
      await open.done;
      expect(endData(open.values)).toEqual({ status: 'cancelled', error: 'User pressed stop' });
      expect(await service.getTaskInfo(started.taskId)).toMatchObject({
        status: 'cancelled',
        error: 'User pressed stop',
      });
    });

    it('cancel without a reason says "Task cancelled"', async () => {
      const { started } = await runningTask();
      await service.cancel(started.taskId);
      expect(endData(await streamToEnd(service, started))).toEqual({
        status: 'cancelled',
        error: 'Task cancelled',
      });
    });

    it('cancel with access checks the key first (403) and leaves the task running', async () => {
      const { task, started } = await runningTask();
      await expect(service.cancel(started.taskId, 'x', { resumeKey: 'wrong' })).rejects.toBeInstanceOf(
        ResumeKeyInvalidError,
      );
      await expect(service.cancel(started.taskId, 'x', { resumeKey: undefined })).rejects.toBeInstanceOf(
        ResumeKeyInvalidError,
      );
      expect(task.ctx.signal.aborted).toBe(false);
      await service.cancel(started.taskId, 'ok', { resumeKey: started.resumeKey });
      expect((await service.getTaskInfo(started.taskId)).status).toBe('cancelled');
    });

    it.each([
      ['completed', { status: 'completed' }],
      ['failed', { status: 'failed', error: 'Task failed' }],
      ['cancelled', { status: 'cancelled', error: 'Task cancelled' }],
    ] as const)('completeTask(%s)', async (status, end) => {
      const { task, started } = await runningTask();
      await service.completeTask(started.taskId, status);
      expect(task.ctx.signal.aborted).toBe(true);
      expect((await service.getTaskInfo(started.taskId)).status).toBe(status);
      expect(endData(await streamToEnd(service, started))).toEqual(end);
    });

    it('completeTask refuses a status that is not terminal', async () => {
      const { task, started } = await runningTask();
      await expect(service.completeTask(started.taskId, 'running' as unknown as 'completed')).rejects.toThrow(
        RangeError,
      );
      expect(task.ctx.signal.aborted).toBe(false);
    });

    it('ending a task twice is TaskNotRunningError (409) and changes nothing', async () => {
      const { started } = await runningTask();
      await service.complete(started.taskId, 'first');
      for (const again of [
        () => service.complete(started.taskId, 'second'),
        () => service.fail(started.taskId, 'no'),
        () => service.cancel(started.taskId),
        () => service.completeTask(started.taskId, 'failed'),
      ]) {
        const error = await again().catch((err: unknown) => err);
        expect(error).toBeInstanceOf(TaskNotRunningError);
        expect((error as SseResumeError).getStatus()).toBe(409);
        expect(error).toMatchObject({ taskStatus: 'completed' });
      }
      expect(endData(await streamToEnd(service, started))).toEqual({ status: 'completed', result: 'first' });
    });

    it('ending an unknown task is TaskNotFoundError (404)', async () => {
      await expect(service.complete('nope')).rejects.toBeInstanceOf(TaskNotFoundError);
      await expect(service.cancel('nope')).rejects.toBeInstanceOf(TaskNotFoundError);
    });

    it('emit after the end throws TaskNotRunningError synchronously and changes nothing', async () => {
      const { task, started } = await runningTask();
      await service.cancel(started.taskId);
      const before = await service.getTaskInfo(started.taskId);
      let thrown: unknown;
      try {
        void task.ctx.emit('too late');
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(TaskNotRunningError);
      expect(thrown).toMatchObject({ taskStatus: 'cancelled' });
      expect(await service.getTaskInfo(started.taskId)).toEqual(before);
      const values = await streamToEnd(service, started);
      expect(idsOf(values)).toEqual([1, 2]);
      expect(values[values.length - 1]!.type).toBe('end');
    });

    it('a task that keeps emitting after being cancelled fails nothing and crashes nothing', async () => {
      const emitted: unknown[] = [];
      const started = await service.start(async (ctx) => {
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
        emitted.push(await ctx.emit('after abort'));
      });
      await service.cancel(started.taskId);
      await turns(5);
      expect(emitted).toEqual([]);
      expect(endData(await streamToEnd(service, started))).toEqual({
        status: 'cancelled',
        error: 'Task cancelled',
      });
    });
  });

  describe('getTaskInfo (Go GetTaskInfo)', () => {
    it('reports status, times, last event id and the open streams', async () => {
      jest.useFakeTimers({ ...FAKE_TIMERS, now: Date.UTC(2030, 0, 1) });
      setUp({ ttl: 60_000 });
      const task = controllable();
      const started = await service.start(task.fn);
      await task.running;
      await jest.advanceTimersByTimeAsync(1_000);
      await task.ctx.emit(1);
      expect(await service.getTaskInfo(started.taskId)).toEqual({
        taskId: started.taskId,
        status: 'running',
        createdAt: '2030-01-01T00:00:00.000Z',
        updatedAt: '2030-01-01T00:00:01.000Z',
        expiresAt: null,
        lastEventId: 1,
        subscribers: 0,
        subscriberIds: [],
      });

      const a = collect(service.stream(started.taskId, { resumeKey: started.resumeKey, subscriberId: 'a' }));
      const b = collect(service.stream(started.taskId, { resumeKey: started.resumeKey, subscriberId: 'b' }));
      const anonymous = collect(service.stream(started.taskId, { resumeKey: started.resumeKey }));
      await Promise.all([a, b, anonymous].map(waitForOpen));
      let info = await service.getTaskInfo(started.taskId);
      expect(info.subscribers).toBe(3);
      expect(info.subscriberIds.slice(0, 2)).toEqual(['a', 'b']);
      expect(info.subscriberIds[2]).toMatch(/^[0-9a-f-]{36}$/);
      expect(service.stats.openStreams).toBe(3);

      a.unsubscribe();
      info = await service.getTaskInfo(started.taskId);
      expect(info).toMatchObject({ subscribers: 2, subscriberIds: ['b', info.subscriberIds[1]] });
      expect(task.ctx.signal.aborted).toBe(false);

      await jest.advanceTimersByTimeAsync(1_000);
      await service.fail(started.taskId, 'broken');
      await Promise.all([b.done, anonymous.done]);
      expect(await service.getTaskInfo(started.taskId)).toEqual({
        taskId: started.taskId,
        status: 'failed',
        createdAt: '2030-01-01T00:00:00.000Z',
        updatedAt: '2030-01-01T00:00:02.000Z',
        expiresAt: '2030-01-01T00:01:02.000Z',
        lastEventId: 2,
        subscribers: 0,
        subscriberIds: [],
        error: 'broken',
      });
      expect(service.stats.openStreams).toBe(0);
    });

    it('with access, checks the key (403); unknown task is 404', async () => {
      const task = controllable();
      const started = await service.start(task.fn);
      await expect(service.getTaskInfo(started.taskId, { resumeKey: 'wrong' })).rejects.toBeInstanceOf(
        ResumeKeyInvalidError,
      );
      await expect(
        service.getTaskInfo(started.taskId, { resumeKey: started.resumeKey }),
      ).resolves.toMatchObject({
        status: 'running',
      });
      await expect(service.getTaskInfo('nope')).rejects.toBeInstanceOf(TaskNotFoundError);
      task.release();
    });
  });

  describe('failure recovery: a failing task never crashes the process', () => {
    let unhandled: jest.Mock;

    beforeEach(() => {
      unhandled = jest.fn();
      process.on('unhandledRejection', unhandled);
      process.on('uncaughtException', unhandled);
    });

    afterEach(async () => {
      await turns(3);
      process.off('unhandledRejection', unhandled);
      process.off('uncaughtException', unhandled);
      expect(unhandled).not.toHaveBeenCalled();
    });

    async function endOf(source: Parameters<SseTaskService['start']>[0]): Promise<unknown> {
      const started = await service.start(source);
      return endData(await streamToEnd(service, started));
    }

    it.each([
      [
        'a synchronous throw',
        () => {
          throw new Error('SELECT * FROM secrets failed');
        },
      ],
      [
        'a rejection',
        async () => {
          await nextTurn();
          throw new Error('connection string with password');
        },
      ],
      ['a rejected promise returned', () => Promise.reject(new Error('internal'))],
      [
        'a thrown string',
        () => {
          // eslint-disable-next-line @typescript-eslint/only-throw-error
          throw 'internal detail';
        },
      ],
      [
        'a thrown undefined',
        () => {
          // eslint-disable-next-line @typescript-eslint/only-throw-error
          throw undefined;
        },
      ],
      [
        'a thrown plain object',
        () => {
          // eslint-disable-next-line @typescript-eslint/only-throw-error
          throw { secret: 1 };
        },
      ],
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      ['a rejection with null', () => Promise.reject(null)],
    ])('%s fails the task with "Task failed" and logs the cause', async (_name, source) => {
      expect(await endOf(source as () => unknown)).toEqual({ status: 'failed', error: 'Task failed' });
      expect(logError).toHaveBeenCalledWith(
        expect.objectContaining({ message: 'task failed', taskId: expect.any(String) }),
        expect.anything(),
      );
    });

    it('a TaskError fails the task with its own message, and is not logged as a bug', async () => {
      const source = async () => {
        throw new TaskError('Disk quota exceeded');
      };
      expect(await endOf(source)).toEqual({ status: 'failed', error: 'Disk quota exceeded' });
      expect(logError).not.toHaveBeenCalled();
    });

    it("a library error the task did not catch shows the library's message", async () => {
      const source = async (ctx: TaskContext) => {
        await ctx.emit(1, { event: 'end' });
      };
      expect(await endOf(source)).toEqual({
        status: 'failed',
        error: 'invalid event: the event name "end" is reserved',
      });
    });

    it('a result that is not JSON-serializable fails the task', async () => {
      const started = await service.start(async () => 10n);
      const values = await streamToEnd(service, started);
      expect(endData(values)).toEqual({ status: 'failed', error: 'Task result is not JSON-serializable' });
      expect((await service.getTaskInfo(started.taskId)).status).toBe('failed');
    });

    it('an Observable that errors fails the task ("Task failed", or the TaskError message)', async () => {
      expect(await endOf(throwError(() => new Error('private')))).toEqual({
        status: 'failed',
        error: 'Task failed',
      });
      expect(await endOf(throwError(() => 'not an error'))).toEqual({
        status: 'failed',
        error: 'Task failed',
      });
      expect(await endOf(throwError(() => new TaskError('Upstream said no')))).toEqual({
        status: 'failed',
        error: 'Upstream said no',
      });
    });

    it('an Observable value that cannot be stored fails the task with the reason', async () => {
      const end = await endOf(of(1, 2n, 3));
      expect(end).toEqual({
        status: 'failed',
        error: expect.stringMatching(/^invalid event: data is not JSON-serializable/),
      });
    });

    it('an AsyncIterable that throws fails the task', async () => {
      async function* source() {
        yield 1;
        await nextTurn();
        throw new Error('private');
      }
      const started = await service.start(source());
      const values = await streamToEnd(service, started);
      expect(idsOf(values)).toEqual([1, 2]);
      expect(endData(values)).toEqual({ status: 'failed', error: 'Task failed' });
    });

    it('an event the store cannot keep fails the task instead of vanishing', async () => {
      const fixture = createService({}, (memory) => new ObservedTaskStore(memory));
      await shutDown(service);
      service = fixture.service;
      const task = controllable();
      const started = await service.start(task.fn);
      await task.running;
      await task.ctx.emit('kept');
      fixture.store.failures.append = new Error('disk full');
      await expect(task.ctx.emit('lost')).rejects.toThrow('disk full');
      await waitForStatus(service, started.taskId, 'failed');
      expect(task.ctx.signal.aborted).toBe(true);
      const values = await streamToEnd(service, started);
      expect(describeMessages(values)).toEqual([
        'open:0',
        'progress:1:"kept"',
        'end:2:{"status":"failed","error":"Task events could not be stored"}',
      ]);
    });
  });

  describe('task sources', () => {
    it('emits each value of an Observable as a progress event; completion completes the task', async () => {
      const started = await service.start(of({ a: 1 }, 'two', 3));
      const values = await streamToEnd(service, started);
      expect(describeMessages(values)).toEqual([
        'open:0',
        'progress:1:{"a":1}',
        'progress:2:"two"',
        'progress:3:3',
        'end:4:{"status":"completed"}',
      ]);
    });

    it('unsubscribes from the Observable when the task is cancelled', async () => {
      const subject = new Subject<number>();
      const teardown = jest.fn();
      const started = await service.start(subject.pipe(finalize(teardown)));
      await turns(2);
      subject.next(1);
      subject.next(2);
      await service.cancel(started.taskId);
      expect(teardown).toHaveBeenCalledTimes(1);
      expect(subject.observed).toBe(false);
      subject.next(3);
      const values = await streamToEnd(service, started);
      expect(describeMessages(values)).toEqual([
        'open:0',
        'progress:1:1',
        'progress:2:2',
        'end:3:{"status":"cancelled","error":"Task cancelled"}',
      ]);
    });

    it('emits each value of an AsyncIterable; the end of iteration completes the task', async () => {
      async function* source() {
        yield 'a';
        await nextTurn();
        yield { b: 2 };
      }
      const started = await service.start(source());
      expect(describeMessages(await streamToEnd(service, started))).toEqual([
        'open:0',
        'progress:1:"a"',
        'progress:2:{"b":2}',
        'end:3:{"status":"completed"}',
      ]);
    });

    it('stops iterating an AsyncIterable once the task is cancelled, and lets it clean up', async () => {
      const gate = deferred();
      const cleanup = jest.fn();
      async function* source() {
        try {
          yield 1;
          await gate.promise;
          yield 2;
          yield 3;
        } finally {
          cleanup();
        }
      }
      const started = await service.start(source());
      await waitFor(() => store.stats().events === 1, 'the first value');
      await service.cancel(started.taskId);
      gate.resolve();
      await waitFor(() => cleanup.mock.calls.length === 1, 'the generator to clean up');
      expect(idsOf(await streamToEnd(service, started))).toEqual([1, 2]);
    });
  });

  describe('timeouts (fake timers)', () => {
    it('fails the task after timeoutMs and aborts its signal', async () => {
      jest.useFakeTimers(FAKE_TIMERS);
      const task = controllable();
      const started = await service.start(task.fn, { timeoutMs: 1_000 });
      await jest.advanceTimersByTimeAsync(999);
      expect((await service.getTaskInfo(started.taskId)).status).toBe('running');
      expect(task.ctx.signal.aborted).toBe(false);
      await jest.advanceTimersByTimeAsync(1);
      expect(task.ctx.signal.aborted).toBe(true);
      expect(task.ctx.signal.reason).toBeInstanceOf(TaskAbortedError);
      expect(task.ctx.signal.reason).toMatchObject({
        code: 'timeout',
        message: 'Task timed out after 1000 ms',
      });
      expect(await service.getTaskInfo(started.taskId)).toMatchObject({
        status: 'failed',
        error: 'Task timed out after 1000 ms',
      });
      expect(() => task.ctx.emit('late')).toThrow(TaskNotRunningError);
      expect(endData(await streamToEnd(service, started))).toEqual({
        status: 'failed',
        error: 'Task timed out after 1000 ms',
      });
    });

    it('applies defaultTimeoutMs to tasks started without one', async () => {
      jest.useFakeTimers(FAKE_TIMERS);
      setUp({ defaultTimeoutMs: 500 });
      const task = controllable();
      const started = await service.start(task.fn);
      await jest.advanceTimersByTimeAsync(500);
      expect(await service.getTaskInfo(started.taskId)).toMatchObject({
        status: 'failed',
        error: 'Task timed out after 500 ms',
      });
    });

    it('accepts the longest timeout setTimeout can honour', async () => {
      jest.useFakeTimers(FAKE_TIMERS);
      const task = controllable();
      const started = await service.start(task.fn, { timeoutMs: 2 ** 31 - 1 });
      await jest.advanceTimersByTimeAsync(24 * 60 * 60 * 1000);
      expect((await service.getTaskInfo(started.taskId)).status).toBe('running');
      task.release();
    });

    it('clears the timer of a task that ends in time', async () => {
      jest.useFakeTimers(FAKE_TIMERS);
      const started = await service.start(async () => 'quick', { timeoutMs: 60_000 });
      await waitForStatus(service, started.taskId, 'completed');
      expect(jest.getTimerCount()).toBe(0);
      await jest.advanceTimersByTimeAsync(60_000);
      expect((await service.getTaskInfo(started.taskId)).status).toBe('completed');
    });
  });

  describe('TTL (fake timers)', () => {
    it('keeps a finished task resumable until ttl, then answers 410 and frees its memory, then 404', async () => {
      jest.useFakeTimers(FAKE_TIMERS);
      setUp({ ttl: 10_000, expiredRetentionMs: 5_000 });
      const started = await service.start(async (ctx) => {
        for (let i = 0; i < 50; i++) await ctx.emit({ i, text: 'some progress text' });
        return 'result';
      });
      await waitForStatus(service, started.taskId, 'completed');
      expect(store.stats()).toMatchObject({ tasks: 1, events: 51 });

      await jest.advanceTimersByTimeAsync(9_999);
      const replay = await streamToEnd(service, started, 40);
      expect(idsOf(replay)).toEqual(range(41, 51));
      expect(endData(replay)).toEqual({ status: 'completed', result: 'result' });

      await jest.advanceTimersByTimeAsync(1);
      expect(await service.evictExpired()).toBe(1);
      expect(store.stats()).toEqual({ tasks: 0, tombstones: 1, events: 0, bytes: 0 });
      const expired = await streamError(service, started.taskId, { resumeKey: started.resumeKey });
      expect(expired).toBeInstanceOf(TaskExpiredError);
      expect((expired as SseResumeError).getStatus()).toBe(410);
      await expect(service.getTaskInfo(started.taskId)).rejects.toBeInstanceOf(TaskExpiredError);
      // The key is still checked first: an expired task is no oracle for strangers.
      expect(await streamError(service, started.taskId, { resumeKey: 'wrong' })).toBeInstanceOf(
        ResumeKeyInvalidError,
      );

      await jest.advanceTimersByTimeAsync(5_000);
      expect(await streamError(service, started.taskId, { resumeKey: started.resumeKey })).toBeInstanceOf(
        TaskNotFoundError,
      );
      await service.evictExpired();
      expect(store.stats()).toEqual({ tasks: 0, tombstones: 0, events: 0, bytes: 0 });
    });
  });

  describe('metadata and the authorize hook', () => {
    it('keeps metadata with the task and reports a copy in getTaskInfo', async () => {
      const metadata = { userId: 'u-1', project: 'p' };
      const task = controllable();
      const started = await service.start(task.fn, { metadata });
      metadata.userId = 'changed';
      const info = await service.getTaskInfo(started.taskId);
      expect(info.metadata).toEqual({ userId: 'u-1', project: 'p' });
      info.metadata!.userId = 'mutated';
      expect((await service.getTaskInfo(started.taskId)).metadata).toEqual({ userId: 'u-1', project: 'p' });
      task.release();
    });

    it('has no metadata field when none was given', async () => {
      const started = await service.start(async () => 1);
      expect(await service.getTaskInfo(started.taskId)).not.toHaveProperty('metadata');
    });

    it.each([
      ['an array', ['a'], TypeError],
      ['a non-string value', { n: 1 }, TypeError],
      ['null', null, TypeError],
      ['more than 4 KiB', { big: 'x'.repeat(5_000) }, RangeError],
    ])('refuses metadata that is %s, creating nothing', async (_name, metadata, type) => {
      await expect(
        service.start(async () => 1, { metadata: metadata as unknown as Record<string, string> }),
      ).rejects.toThrow(type);
      expect(store.stats().tasks).toBe(0);
    });

    it('runs the hook after the key check, with the request and the task; false is ACCESS_DENIED (403)', async () => {
      const authorize = jest.fn(
        (request: unknown, task: { metadata?: Record<string, string> }) =>
          (request as { user: string }).user === task.metadata?.userId,
      );
      setUp({ authorize });
      const task = controllable();
      const started = await service.start(task.fn, { metadata: { userId: 'alice' } });
      const alice = { user: 'alice' };
      const bob = { user: 'bob' };

      await expect(
        service.authorizeStream(started.taskId, { resumeKey: started.resumeKey }, alice),
      ).resolves.toMatchObject({ resumePoint: 0 });
      expect(authorize).toHaveBeenLastCalledWith(
        alice,
        expect.objectContaining({ taskId: started.taskId, status: 'running' }),
      );
      const denied = await service
        .authorizeStream(started.taskId, { resumeKey: started.resumeKey }, bob)
        .catch((err: unknown) => err);
      expect(denied).toMatchObject({ code: 'ACCESS_DENIED' });
      expect((denied as SseResumeError).getStatus()).toBe(403);

      authorize.mockClear();
      await expect(
        service.authorizeStream(started.taskId, { resumeKey: 'wrong' }, alice),
      ).rejects.toBeInstanceOf(ResumeKeyInvalidError);
      expect(authorize).not.toHaveBeenCalled();

      await expect(service.authorizeRequest(alice, started.taskId, started.resumeKey)).resolves.toMatchObject(
        {
          taskId: started.taskId,
          metadata: { userId: 'alice' },
        },
      );
      await expect(service.authorizeRequest(bob, started.taskId, started.resumeKey)).rejects.toMatchObject({
        code: 'ACCESS_DENIED',
      });
      await expect(service.authorizeRequest(alice, started.taskId, undefined)).rejects.toBeInstanceOf(
        ResumeKeyInvalidError,
      );
      await expect(service.authorizeRequest(alice, 'nope', started.resumeKey)).rejects.toBeInstanceOf(
        TaskNotFoundError,
      );
      task.release();
    });

    it('lets an async hook refuse by throwing its own error', async () => {
      setUp({
        authorize: async () => {
          await nextTurn();
          throw new TaskError('Log in first');
        },
      });
      const started = await service.start(async () => 1);
      await expect(service.authorizeRequest({}, started.taskId, started.resumeKey)).rejects.toThrow(
        'Log in first',
      );
    });

    it('skips the hook when no request is given (server-side use)', async () => {
      const authorize = jest.fn(() => false);
      setUp({ authorize });
      const started = await service.start(async () => 1);
      await waitForStatus(service, started.taskId, 'completed');
      expect(idsOf(await streamToEnd(service, started))).toEqual([1]);
      expect(authorize).not.toHaveBeenCalled();
    });
  });

  describe('several instances sharing one store', () => {
    it('lets another instance stream, update and end a task it does not run', async () => {
      const resolved = resolveOptions({});
      const shared = new InMemoryTaskStore(storeLimits(resolved));
      const a = new SseTaskService(shared, resolveOptions({ store: shared }));
      const b = new SseTaskService(shared, resolveOptions({ store: shared }));
      try {
        const task = controllable();
        const started = await a.start(task.fn);
        const onB = collect(b.stream(started.taskId, { resumeKey: started.resumeKey, subscriberId: 'on-b' }));
        await waitForOpen(onB);
        await task.running;
        await task.ctx.emit('from a');
        expect(await b.updateProgress(started.taskId, 'from b')).toBe(2);
        expect((await a.getTaskInfo(started.taskId)).subscribers).toBe(0);
        expect((await b.getTaskInfo(started.taskId)).subscriberIds).toEqual(['on-b']);
        await b.complete(started.taskId, 'b finished it');
        await onB.done;
        expect(describeMessages(onB.values)).toEqual([
          'open:0',
          'progress:1:"from a"',
          'progress:2:"from b"',
          'end:3:{"status":"completed","result":"b finished it"}',
        ]);
        await expect(b.cancel(started.taskId)).rejects.toBeInstanceOf(TaskNotRunningError);
        task.release();
      } finally {
        await shutDown(a);
        await shutDown(b);
      }
    });

    it('stops a local task that the store reports ended elsewhere', async () => {
      class ReportingStore extends InMemoryTaskStore {
        listener: TaskEndedListener | undefined;
        onTaskEnded(listener: TaskEndedListener): () => void {
          this.listener = listener;
          return () => (this.listener = undefined);
        }
      }
      const reporting = new ReportingStore(storeLimits(resolveOptions({})));
      const local = new SseTaskService(reporting, resolveOptions({}));
      try {
        await local.onModuleInit();
        const task = controllable();
        const started = await local.start(task.fn);
        await task.running;
        await reporting.finish(started.taskId, { status: 'cancelled', data: '{"status":"cancelled"}' });
        reporting.listener?.(started.taskId, 'cancelled');
        expect(task.ctx.signal.aborted).toBe(true);
        expect(task.ctx.signal.reason).toMatchObject({ code: 'cancelled' });
        expect(() => task.ctx.emit(1)).toThrow(TaskNotRunningError);
        expect(local.stats.runningTasks).toBe(0);
      } finally {
        await shutDown(local);
      }
      expect(reporting.listener).toBeUndefined();
    });

    it('an emit refused because the task was cancelled elsewhere (before the news came) stops it as cancelled, not as a storage failure', async () => {
      const task = controllable();
      const started = await service.start(task.fn);
      await task.running;
      // Another instance cancelled it; this instance has not been told yet.
      await store.finish(started.taskId, {
        status: 'cancelled',
        data: '{"status":"cancelled","error":"stop"}',
        error: 'stop',
      });
      await expect(task.ctx.emit(1)).rejects.toBeInstanceOf(TaskNotRunningError);
      expect(task.ctx.signal.aborted).toBe(true);
      expect(task.ctx.signal.reason).toMatchObject({ code: 'cancelled' });
      expect(logError.mock.calls.some(([message]) => String(message).includes('could not be stored'))).toBe(
        false,
      );
      expect(service.stats.runningTasks).toBe(0);
      expect(await service.getTaskInfo(started.taskId)).toMatchObject({ status: 'cancelled', error: 'stop' });
    });
  });

  describe('storing the end', () => {
    it('retries while the store is unavailable, so an end does not vanish (fake timers)', async () => {
      jest.useFakeTimers(FAKE_TIMERS);
      const fixture = createService({}, (memory) => new ObservedTaskStore(memory));
      await shutDown(service);
      service = fixture.service;
      const task = controllable();
      const started = await service.start(task.fn);
      fixture.store.failures.finish = new StoreUnavailableError('down');
      const completing = service.complete(started.taskId, 'x');
      await turns(2);
      expect(fixture.store.calls.finish).toBe(1);
      expect((await service.getTaskInfo(started.taskId)).status).toBe('running');
      await jest.advanceTimersByTimeAsync(1_000);
      expect(fixture.store.calls.finish).toBe(2);
      delete fixture.store.failures.finish;
      await jest.advanceTimersByTimeAsync(1_000);
      await completing;
      expect(fixture.store.calls.finish).toBe(3);
      expect((await service.getTaskInfo(started.taskId)).status).toBe('completed');
      expect(endData(await streamToEnd(service, started))).toEqual({ status: 'completed', result: 'x' });
    });

    it('keeps retrying through a long outage, logging once a minute: the task must not stay running (fake timers)', async () => {
      jest.useFakeTimers(FAKE_TIMERS);
      const fixture = createService({}, (memory) => new ObservedTaskStore(memory));
      await shutDown(service);
      service = fixture.service;
      const task = controllable();
      const started = await service.start(task.fn);
      fixture.store.failures.finish = new StoreUnavailableError('down');
      const failing = service.fail(started.taskId, 'broken');
      await turns(2);
      await jest.advanceTimersByTimeAsync(5 * 60_000);
      expect(fixture.store.calls.finish).toBe(301);
      const logged = logError.mock.calls.filter(([message]) =>
        String(message).includes('could not be stored'),
      );
      expect(logged.map(([record]) => (record as { attempt?: number }).attempt)).toEqual([
        1, 61, 121, 181, 241, 301,
      ]);
      expect(logged[0]![0]).toMatchObject({
        taskId: started.taskId,
        status: 'failed',
        error: expect.stringContaining('down'),
      });
      delete fixture.store.failures.finish;
      await jest.advanceTimersByTimeAsync(1_000);
      await failing;
      expect(await service.getTaskInfo(started.taskId)).toMatchObject({ status: 'failed', error: 'broken' });
    });
  });

  describe('shutdown', () => {
    it('ends open streams without an end event, fails running tasks and refuses new ones', async () => {
      const task = controllable();
      const started = await service.start(task.fn);
      const open = collect(service.stream(started.taskId, { resumeKey: started.resumeKey }));
      await waitForOpen(open);
      await service.beforeApplicationShutdown();
      await open.done;
      expect(open.completed).toBe(true);
      expect(eventsOf(open.values).some((m) => m.type === 'end')).toBe(false);
      expect(task.ctx.signal.reason).toMatchObject({ code: 'shutdown' });
      expect(await service.getTaskInfo(started.taskId)).toMatchObject({
        status: 'failed',
        error: expect.stringMatching(/^Server shut down/),
      });
      await expect(service.start(async () => 1)).rejects.toBeInstanceOf(StoreUnavailableError);
      await service.onApplicationShutdown();
      expect(store.stats().tasks).toBe(0);
    });

    it('with shutdownGraceMs, lets running tasks finish first, then fails the rest (fake timers)', async () => {
      jest.useFakeTimers(FAKE_TIMERS);
      setUp({ shutdownGraceMs: 1_000 });
      const quick = controllable();
      const slow = controllable();
      const a = await service.start(quick.fn);
      const b = await service.start(slow.fn);
      const open = collect(service.stream(a.taskId, { resumeKey: a.resumeKey }));
      await waitForOpen(open);
      let done = false;
      const shuttingDown = service.beforeApplicationShutdown().then(() => (done = true));
      await open.done; // streams end at once: clients reconnect elsewhere
      expect(eventsOf(open.values).some((m) => m.type === 'end')).toBe(false);
      await jest.advanceTimersByTimeAsync(300);
      quick.release('made it');
      await jest.advanceTimersByTimeAsync(100);
      expect(done).toBe(false);
      expect(await service.getTaskInfo(a.taskId)).toMatchObject({ status: 'completed' });
      await jest.advanceTimersByTimeAsync(600);
      await shuttingDown;
      expect(slow.ctx.signal.reason).toMatchObject({ code: 'shutdown' });
      expect(await service.getTaskInfo(b.taskId)).toMatchObject({ status: 'failed' });
    });

    it('ends a stream opened after the shutdown began (it would hold the HTTP server open), without an end event', async () => {
      // A task of another instance (shared store): it goes on running while this one stops.
      const resumeKey = 'key-of-a-task-run-elsewhere';
      await store.create({ taskId: 'elsewhere', keyHash: hashResumeKey(resumeKey), createdAt: Date.now() });
      await store.append('elsewhere', 'progress', '1');
      await service.beforeApplicationShutdown();
      const late = collect(service.stream('elsewhere', { resumeKey }));
      await waitFor(() => late.finished, 'the late stream to end');
      expect(late.completed).toBe(true);
      expect(late.error).toBeUndefined();
      expect(eventsOf(late.values).some((m) => m.type === 'end')).toBe(false);
    });

    it('shuts down at once with nothing running', async () => {
      jest.useFakeTimers(FAKE_TIMERS);
      setUp({ shutdownGraceMs: 60_000 });
      await service.start(async () => 1);
      await turns(3);
      await service.beforeApplicationShutdown();
    });

    it('gives running tasks 5 s of grace by default when the store is shared, none when it is not (fake timers)', async () => {
      jest.useFakeTimers(FAKE_TIMERS);
      class SharedStore extends InMemoryTaskStore {
        override readonly shared = true;
        onTaskEnded(): () => void {
          return () => undefined;
        }
      }
      for (const [store, grace] of [
        [new SharedStore(storeLimits(resolveOptions({}))), 5_000],
        [new InMemoryTaskStore(storeLimits(resolveOptions({}))), 0],
      ] as const) {
        const local = new SseTaskService(store, resolveOptions({ store }));
        const task = controllable();
        const started = await local.start(task.fn);
        await task.running;
        let done = false;
        const stopping = local.beforeApplicationShutdown().then(() => (done = true));
        if (grace > 0) {
          await jest.advanceTimersByTimeAsync(grace - 100);
          expect(done).toBe(false);
        }
        await jest.advanceTimersByTimeAsync(200);
        await stopping;
        expect(await local.getTaskInfo(started.taskId)).toMatchObject({ status: 'failed' });
        await local.onApplicationShutdown();
      }
    });

    it('refuses at boot a shared store that cannot report ends from other instances', async () => {
      class IncompleteSharedStore extends InMemoryTaskStore {
        override readonly shared = true;
      }
      const store = new IncompleteSharedStore(storeLimits(resolveOptions({})));
      const local = new SseTaskService(store, resolveOptions({ store }));
      await expect(local.onModuleInit()).rejects.toThrow(
        'SseResumeModule: a shared TaskStore (shared: true) must implement onTaskEnded',
      );
    });

    it('does not close a store instance it was given', async () => {
      const given = new InMemoryTaskStore(storeLimits(resolveOptions({})));
      const close = jest.spyOn(given, 'close');
      const local = new SseTaskService(given, resolveOptions({ store: given }));
      await shutDown(local);
      expect(close).not.toHaveBeenCalled();
    });
  });

  describe('backpressure: emit paces its task', () => {
    /** Counts turns of the event loop that other work gets while `work` runs. */
    async function turnsDuring(work: () => Promise<unknown>): Promise<number> {
      let turnsSeen = 0;
      let running = true;
      const tick = () => {
        if (!running) return;
        turnsSeen++;
        setImmediate(tick);
      };
      setImmediate(tick);
      await work();
      running = false;
      return turnsSeen;
    }

    it('an awaited loop past emitBytesPerTurn yields the event loop between its emits', async () => {
      setUp({ emitBytesPerTurn: 1_000, maxEventBytes: 4_096, historyBytes: 1 << 20 });
      const done = deferred();
      const started = await service.start(async (ctx) => {
        for (let i = 0; i < 10; i++) await ctx.emit('x'.repeat(600));
        done.resolve();
      });
      // 10 events of ~600 bytes with 1 000 per turn: other work runs at least every second emit.
      const seen = await turnsDuring(() => done.promise);
      expect(seen).toBeGreaterThanOrEqual(4);
      const values = await streamToEnd(service, started);
      expect(idsOf(values)).toEqual(range(1, 11));
    });

    it('small awaited emits within emitBytesPerTurn resolve without waiting for a turn', async () => {
      setUp({ emitBytesPerTurn: 1 << 20 });
      const done = deferred();
      await service.start(async (ctx) => {
        for (let i = 0; i < 50; i++) await ctx.emit(i);
        done.resolve();
      });
      expect(await turnsDuring(() => done.promise)).toBeLessThanOrEqual(1);
    });

    it('emits that are not awaited fail the task past maxUnstoredBytes, loudly', async () => {
      setUp({ maxUnstoredBytes: 1_000, maxEventBytes: 500, historyBytes: 1 << 20 });
      logError.mockImplementation(() => undefined);
      let thrown: unknown;
      const started = await service.start(async (ctx) => {
        try {
          for (let i = 0; i < 100; i++) void ctx.emit('x'.repeat(200));
        } catch (err) {
          thrown = err;
          throw err;
        }
      });
      const values = await streamToEnd(service, started);
      expect(thrown).toBeInstanceOf(TaskOverloadedError);
      // 4 events of 202 + 8 characters fit in 1 000; the fifth is refused.
      expect(idsOf(values)).toEqual(range(1, 5));
      expect(endData(values)).toEqual({
        status: 'failed',
        error: `task ${started.taskId} emitted more than 1000 bytes that are not stored yet; await emit() to be paced`,
      });
    });

    it('an Observable source that outruns the store fails instead of filling memory', async () => {
      setUp({ maxUnstoredBytes: 1_000, maxEventBytes: 500, historyBytes: 1 << 20 });
      logError.mockImplementation(() => undefined);
      const started = await service.start(of(...Array.from({ length: 100 }, () => 'y'.repeat(200))));
      const values = await streamToEnd(service, started);
      expect(endData(values)).toMatchObject({ status: 'failed' });
      expect(idsOf(values).length).toBeLessThan(10);
    });

    it('unstored bytes are released as the store confirms, so a paced producer never trips the bound', async () => {
      setUp({ maxUnstoredBytes: 1_000, maxEventBytes: 500, historyBytes: 1 << 20 });
      const started = await service.start(async (ctx) => {
        for (let i = 0; i < 100; i++) await ctx.emit('z'.repeat(400));
      });
      const values = await streamToEnd(service, started);
      expect(endData(values)).toEqual({ status: 'completed' });
      expect(idsOf(values)).toEqual(range(1, 101));
    });
  });
});
