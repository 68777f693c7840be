import type { Logger, MessageEvent } from '@nestjs/common';
import { Observable } from 'rxjs';
import type { ServerResponse } from 'node:http';
import { StoreUnavailableError, TaskNotFoundError, TooManySubscribersError } from '../errors';
import type { FrameSink } from '../interfaces/frame-sink.interface';
import type { TaskRecord } from '../interfaces/task-store.interface';
import { ResponseSink } from './response-sink';
import { EventBatch, framesOf, HEARTBEAT_FRAME, openFrame } from './sse-frames';
import { InMemoryTaskStore } from '../stores/in-memory/in-memory-task-store';
import { TaskEvent } from '../task-event';
import { TaskHub } from './task-hub';
import { type OpenMessage, SUBSCRIPTION_HANDLE } from './open-message';
import { type SubscriptionContext, TaskSubscription } from './task-subscription';
import { collect, type Collected, deferred, type Deferred, nextTurn, turns, waitFor } from '../testing/async';
import { describeMessages } from '../testing/sse';
import { StalledResponse } from '../testing/stalled-response';
import { testStoreLimits } from '../testing/limits';

/** A FrameSink whose readiness and flushing the test controls. */
class ControlledSink implements FrameSink {
  readonly writes: (string | Buffer)[] = [];
  closed = false;
  refuse = false;
  writableGate: Deferred<void> | undefined;
  flushGate: Deferred<void> | undefined;
  whenWritableCalls = 0;

  write(chunk: string | Buffer): boolean {
    if (this.closed || this.refuse) {
      this.closed = true;
      return false;
    }
    this.writes.push(chunk);
    return true;
  }

  whenWritable(): Promise<void> {
    this.whenWritableCalls++;
    return this.writableGate ? this.writableGate.promise : Promise.resolve();
  }

  flushed(): Promise<void> {
    return this.flushGate ? this.flushGate.promise : Promise.resolve();
  }

  get text(): string {
    return this.writes.map((chunk) => chunk.toString()).join('');
  }
}

describe('TaskSubscription', () => {
  let memory: InMemoryTaskStore;
  let hub: TaskHub;
  let logger: { error: jest.Mock; warn: jest.Mock };
  let taskId: string;
  let created = 0;

  beforeEach(async () => {
    memory = new InMemoryTaskStore(testStoreLimits({ historyLimit: 1_000 }));
    logger = { error: jest.fn(), warn: jest.fn() };
    hub = new TaskHub(
      memory,
      { heartbeatMs: 3_600_000, maxSubscribersPerTask: 100, maxStreams: 10_000 },
      logger as unknown as Logger,
    );
    taskId = `task-${++created}`;
    await memory.create({ taskId, keyHash: 'hash', createdAt: Date.now() });
  });

  afterEach(() => {
    hub.stop();
    jest.restoreAllMocks();
  });

  async function record(): Promise<TaskRecord> {
    const lookup = await memory.lookup(taskId);
    if (lookup.state !== 'found') throw new Error('task gone');
    return lookup.task;
  }

  /** Emits `count` events together (not awaited one by one: the hub writes them as one batch). */
  async function emit(count: number, data = (i: number) => JSON.stringify(i)): Promise<void> {
    const first = (await record()).lastEventId + 1;
    const appended: Promise<unknown>[] = [];
    for (let i = first; i < first + count; i++) appended.push(memory.append(taskId, 'progress', data(i)));
    await Promise.all(appended);
  }

  function context(overrides: Partial<SubscriptionContext> = {}, resumePoint = 0): SubscriptionContext {
    return {
      store: memory,
      logger: logger as unknown as Logger,
      retryMs: 1_500,
      replayChunk: 512,
      replayWriteChars: 1_000_000,
      authorize: async () => ({ task: await record(), resumePoint }),
      join: (subscription) => hub.join(subscription),
      ...overrides,
    };
  }

  /** Subscribes as SseTaskService.stream() does; with a sink, attaches it on the open message as the interceptor does. */
  function open(
    ctx: SubscriptionContext,
    sink?: FrameSink,
  ): { collected: Collected<MessageEvent>; subscription: () => TaskSubscription } {
    let instance: TaskSubscription | undefined;
    const source = new Observable<MessageEvent>((rx) => {
      instance = new TaskSubscription(taskId, 'sub-1', ctx, rx);
      void instance.start();
      return () => instance!.close();
    });
    let attached = false;
    const piped = sink
      ? new Observable<MessageEvent>((rx) =>
          source.subscribe({
            next: (message) => {
              if (!attached && SUBSCRIPTION_HANDLE in message) {
                attached = true;
                (message as OpenMessage<TaskSubscription>)[SUBSCRIPTION_HANDLE].attachSink(sink);
                return;
              }
              rx.next(message);
            },
            error: (err: unknown) => rx.error(err),
            complete: () => rx.complete(),
          }),
        )
      : source;
    const collected = collect(piped);
    return {
      collected,
      subscription: () => {
        if (!instance) throw new Error('not subscribed');
        return instance;
      },
    };
  }

  describe('opening', () => {
    it('errors with the authorization failure, before any message, without joining', async () => {
      const join = jest.fn();
      const { collected } = open(
        context({ authorize: () => Promise.reject(new TaskNotFoundError(taskId)), join }),
      );
      await collected.done;
      expect(collected.error).toBeInstanceOf(TaskNotFoundError);
      expect(collected.values).toEqual([]);
      expect(join).not.toHaveBeenCalled();
    });

    it('errors with the join failure (e.g. too many subscribers), before any message', async () => {
      const { collected } = open(
        context({ join: () => Promise.reject(new TooManySubscribersError(taskId, 1)) }),
      );
      await collected.done;
      expect(collected.error).toBeInstanceOf(TooManySubscribersError);
      expect(collected.values).toEqual([]);
    });

    it('once Nest may have sent the head (a timer later), a failed join ends the stream without an error and is logged', async () => {
      jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
      try {
        const joined = deferred<() => void>();
        const { collected } = open(context({ join: () => joined.promise }));
        jest.advanceTimersByTime(1); // Nest's head timer, armed right after ours, has run too
        joined.reject(new StoreUnavailableError('Reached the max retries per request limit'));
        await collected.done;
        expect(collected.error).toBeUndefined();
        expect(collected.completed).toBe(true);
        expect(collected.values).toEqual([]);
        expect(logger.error).toHaveBeenCalledWith(
          expect.objectContaining({
            message: expect.stringContaining('failed after the response head'),
            taskId,
            subscriberId: expect.any(String),
          }),
          expect.stringContaining('Reached the max retries per request limit'),
        );
      } finally {
        jest.useRealTimers();
      }
    });

    it('once Nest may have sent the head, a failed authorization ends the stream without an error', async () => {
      jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
      try {
        const authorized = deferred<{ task: TaskRecord; resumePoint: number }>();
        const join = jest.fn();
        const { collected } = open(context({ authorize: () => authorized.promise, join }));
        jest.advanceTimersByTime(1);
        authorized.reject(new StoreUnavailableError('down'));
        await collected.done;
        expect(collected.error).toBeUndefined();
        expect(collected.completed).toBe(true);
        expect(join).not.toHaveBeenCalled();
      } finally {
        jest.useRealTimers();
      }
    });

    it('never joins when the client left during authorization', async () => {
      const authorized = deferred<{ task: TaskRecord; resumePoint: number }>();
      const join = jest.fn();
      const { collected } = open(context({ authorize: () => authorized.promise, join }));
      collected.unsubscribe();
      authorized.resolve({ task: await record(), resumePoint: 0 });
      await turns(3);
      expect(join).not.toHaveBeenCalled();
      expect(collected.values).toEqual([]);
    });

    it('leaves at once when the client left while joining', async () => {
      const joined = deferred<() => void>();
      const leave = jest.fn();
      const { collected } = open(context({ join: () => joined.promise }));
      await turns(2);
      collected.unsubscribe();
      joined.resolve(leave);
      await turns(2);
      expect(leave).toHaveBeenCalledTimes(1);
      expect(collected.values).toEqual([]);
    });

    it('sends the open message (resume point, retry) first, carrying the subscription', async () => {
      await emit(2);
      const { collected, subscription } = open(context({}, 1));
      await waitFor(() => collected.values.length >= 2);
      expect(collected.values[0]).toMatchObject({ id: '1', retry: 1_500 });
      expect((collected.values[0] as OpenMessage<TaskSubscription>)[SUBSCRIPTION_HANDLE]).toBe(
        subscription(),
      );
      expect(describeMessages(collected.values.slice(1))).toEqual(['progress:2:2']);
    });
  });

  describe('replay', () => {
    it('reads history in chunks of replayChunk, yielding between them', async () => {
      await emit(10);
      const read = jest.spyOn(memory, 'read');
      const { collected } = open(context({ replayChunk: 3 }));
      await waitFor(() => collected.values.length === 11);
      expect(read.mock.calls.map(([, afterId, limit]) => [afterId, limit])).toEqual([
        [0, 3],
        [3, 3],
        [6, 3],
        [9, 3],
      ]);
      expect(describeMessages(collected.values).slice(0, 3)).toEqual([
        'open:0',
        'progress:1:1',
        'progress:2:2',
      ]);
    });

    it('sends a gap when history is trimmed while it replays, then carries on without a hole', async () => {
      memory = new InMemoryTaskStore({
        ttl: 60_000,
        expiredRetentionMs: 60_000,
        historyLimit: 10,
        historyBytes: 1_000_000,
        historyBudgetBytes: 1 << 30,
        maxTasks: 100,
      });
      hub = new TaskHub(
        memory,
        { heartbeatMs: 3_600_000, maxSubscribersPerTask: 100, maxStreams: 10_000 },
        logger as unknown as Logger,
      );
      await memory.create({ taskId, keyHash: 'hash', createdAt: Date.now() });
      await emit(10);
      const read = memory.read.bind(memory);
      jest.spyOn(memory, 'read').mockImplementationOnce(async (...args) => {
        const slice = await read(...args);
        await emit(5); // history is now 6..15
        return slice;
      });
      const { collected } = open(context({ replayChunk: 3 }));
      await waitFor(() => collected.values.length >= 15);
      await turns(3);
      expect(describeMessages(collected.values)).toEqual([
        'open:0',
        'progress:1:1',
        'progress:2:2',
        'progress:3:3',
        'gap:5:{"from":4,"to":5}',
        ...[6, 7, 8, 9, 10, 11, 12, 13, 14, 15].map((i) => `progress:${i}:${i}`),
      ]);
    });

    it('completes after the end event found in history, and leaves the hub', async () => {
      await emit(2);
      await memory.finish(taskId, { status: 'completed', data: '{"status":"completed"}' });
      const { collected } = open(context());
      await collected.done;
      expect(collected.completed).toBe(true);
      expect(describeMessages(collected.values)).toEqual([
        'open:0',
        'progress:1:1',
        'progress:2:2',
        'end:3:{"status":"completed"}',
      ]);
      expect(hub.subscriptionCount).toBe(0);
    });

    it('ends the stream (no terminal event, the client resumes) when history cannot be read', async () => {
      await emit(2);
      jest.spyOn(memory, 'read').mockRejectedValueOnce(new Error('store broke'));
      const { collected } = open(context());
      await collected.done;
      expect(collected.completed).toBe(true);
      expect(describeMessages(collected.values)).toEqual(['open:0']);
      expect(logger.error).toHaveBeenCalledWith(
        expect.objectContaining({
          message: expect.stringContaining('stream failed during replay'),
          taskId,
          subscriberId: expect.any(String),
          error: expect.stringContaining('store broke'),
        }),
        expect.stringContaining('store broke'),
      );
      expect(hub.subscriptionCount).toBe(0);
    });
  });

  describe('live', () => {
    it('drops live events it already replayed, by id', async () => {
      await emit(2);
      const read = memory.read.bind(memory);
      // Events 3 and 4 arrive after the subscription joined: both in history and in the live batch.
      jest.spyOn(memory, 'read').mockImplementationOnce(async (...args) => {
        await emit(1);
        const slice = await read(...args);
        await emit(1);
        return slice;
      });
      const { collected } = open(context());
      await waitFor(() => collected.values.length >= 5);
      await emit(1);
      await turns(3);
      expect(describeMessages(collected.values)).toEqual([
        'open:0',
        'progress:1:1',
        'progress:2:2',
        'progress:3:3',
        'progress:4:4',
        'progress:5:5',
      ]);
    });

    it('never hides a hole in live events: sends a gap and logs it', async () => {
      await emit(2);
      const { collected, subscription } = open(context());
      await waitFor(() => collected.values.length === 3);
      await turns(2);
      subscription().deliver(new EventBatch([new TaskEvent(10, 'progress', '10')]));
      expect(describeMessages(collected.values.slice(3))).toEqual([
        'gap:9:{"from":3,"to":9}',
        'progress:10:10',
      ]);
      expect(logger.error).toHaveBeenCalledWith(
        expect.objectContaining({
          message: expect.stringContaining('live events jump'),
          taskId,
          lastSentId: 2,
          nextId: 10,
        }),
      );
    });

    it('completes after a live end event', async () => {
      const { collected } = open(context());
      await waitFor(() => collected.values.length === 1);
      await turns(2);
      await emit(1);
      await memory.finish(taskId, { status: 'cancelled', data: '{"status":"cancelled"}' });
      await collected.done;
      expect(describeMessages(collected.values)).toEqual([
        'open:0',
        'progress:1:1',
        'end:2:{"status":"cancelled"}',
      ]);
    });

    it('end() completes without a terminal event; close() is idempotent and silences it', async () => {
      const { collected, subscription } = open(context());
      await waitFor(() => collected.values.length === 1);
      await turns(2);
      subscription().end();
      expect(collected.completed).toBe(true);
      expect(subscription().closed).toBe(true);
      subscription().close();
      subscription().heartbeat();
      subscription().deliver(new EventBatch([new TaskEvent(1, 'progress', '1')]));
      expect(collected.values).toHaveLength(1);
      expect(hub.subscriptionCount).toBe(0);
    });
  });

  describe('heartbeat', () => {
    it('sends a comment message only when nothing went out since the previous tick', async () => {
      const { collected, subscription } = open(context());
      await waitFor(() => collected.values.length === 1);
      await turns(2);
      subscription().heartbeat(); // the open message went out since: skipped
      expect(collected.values).toHaveLength(1);
      subscription().heartbeat();
      expect(collected.values[1]).toEqual({ comment: 'ping' });
      await emit(1);
      await turns(2);
      subscription().heartbeat(); // something went out since: skipped
      expect(collected.values).toHaveLength(3);
      subscription().heartbeat();
      expect(collected.values[3]).toEqual({ comment: 'ping' });
    });

    it('writes the heartbeat frame to a sink', async () => {
      const sink = new ControlledSink();
      const { subscription } = open(context(), sink);
      await waitFor(() => sink.writes.length === 1);
      await turns(2);
      subscription().heartbeat(); // the open frame went out since the last tick
      expect(sink.writes).toHaveLength(1);
      subscription().heartbeat();
      expect(sink.writes[1]).toBe(HEARTBEAT_FRAME);
    });
  });

  describe('a sink that owns the response (a route @SseResume() claimed)', () => {
    /** Subscribes as the interceptor does on a claimed route: attaches an owning sink, then lets the Observable go. */
    function openOwned(ctx: SubscriptionContext, sink: ControlledSink & { ended?: number }) {
      let instance: TaskSubscription | undefined;
      const source = new Observable<MessageEvent>((rx) => {
        instance = new TaskSubscription(taskId, 'sub-1', ctx, rx, undefined, undefined, true);
        void instance.start();
        return () => instance!.unsubscribed();
      });
      const received: MessageEvent[] = [];
      const errors: unknown[] = [];
      let completed = false;
      const subscription = source.subscribe({
        next: (message) => {
          if (
            SUBSCRIPTION_HANDLE in message &&
            (message as OpenMessage<TaskSubscription>)[SUBSCRIPTION_HANDLE].attachSink(sink, true)
          ) {
            queueMicrotask(() => subscription.unsubscribe()); // Nest's pipeline is over
            return;
          }
          received.push(message);
        },
        error: (err) => errors.push(err),
        complete: () => (completed = true),
      });
      return { subscription: () => instance!, received, errors, completed: () => completed };
    }

    function endingSink(): ControlledSink & { ended: number } {
      const sink = Object.assign(new ControlledSink(), { ended: 0 });
      (sink as FrameSink).end = () => sink.ended++;
      return sink;
    }

    it('stays open when its Observable is unsubscribed, writes live events and ends the response itself', async () => {
      const sink = endingSink();
      const { subscription, received, completed } = openOwned(context(), sink);
      await waitFor(() => sink.writes.length === 1);
      await turns(2);
      expect(subscription().closed).toBe(false);
      expect(hub.subscriberCount(taskId)).toBe(1);
      await memory.append(taskId, 'end', '{"status":"completed"}');
      await waitFor(() => sink.ended === 1, 'the response to be ended');
      expect(sink.text).toBe(openFrame(0, 1_500) + 'event: end\nid: 1\ndata: {"status":"completed"}\n\n');
      expect(received).toEqual([]);
      expect(completed()).toBe(false); // the Observable was let go: the sink ends the response
      expect(hub.subscriberCount(taskId)).toBe(0);
    });

    it('is released by close() (the connection closed), and leaves its task', async () => {
      const sink = endingSink();
      const { subscription } = openOwned(context(), sink);
      await waitFor(() => sink.writes.length === 1);
      subscription().close();
      expect(hub.subscriberCount(taskId)).toBe(0);
      expect(sink.ended).toBe(0);
    });

    it('answers a failure before the open message with the error, even after a timer turn (no head is out)', async () => {
      const failing = deferred<never>();
      const { errors } = openOwned(context({ authorize: () => failing.promise }), endingSink());
      await new Promise((resolve) => setTimeout(resolve, 5));
      failing.reject(new TaskNotFoundError(taskId));
      await waitFor(() => errors.length === 1);
      expect(errors[0]).toBeInstanceOf(TaskNotFoundError);
      expect(logger.error).not.toHaveBeenCalled();
    });

    it('lets go of its open options once open', async () => {
      const sink = endingSink();
      let instance: TaskSubscription | undefined;
      new Observable<MessageEvent>((rx) => {
        instance = new TaskSubscription(taskId, 'sub-1', context(), rx, { resumeKey: 'k', lastEventId: 0 });
        void instance.start();
        return () => instance!.close();
      }).subscribe((message) => {
        if (SUBSCRIPTION_HANDLE in message)
          (message as OpenMessage<TaskSubscription>)[SUBSCRIPTION_HANDLE].attachSink(sink);
      });
      expect(instance!.options).toEqual({ resumeKey: 'k', lastEventId: 0 });
      await waitFor(() => sink.writes.length === 1);
      expect(instance!.options).toBeUndefined();
      instance!.close();
    });
  });

  describe('writing to a FrameSink', () => {
    it('writes the open frame, then the replay in bounded writes that wait for the sink', async () => {
      await emit(10, () => JSON.stringify('x'.repeat(20)));
      const { events } = await memory.read(taskId, 0, 100);
      const expected = openFrame(0, 1_500) + framesOf(events);
      const sink = new ControlledSink();
      sink.writableGate = deferred();
      const { collected } = open(context({ replayWriteChars: 100 }), sink);
      await waitFor(() => sink.writes.length === 2);
      await turns(3);
      // Waiting for the sink: nothing more until it is writable.
      expect(sink.writes).toHaveLength(2);
      expect(sink.whenWritableCalls).toBe(1);
      sink.writableGate.resolve();
      await waitFor(() => sink.text.length >= expected.length, 'the whole replay');
      expect(sink.text).toBe(expected);
      const frameLength = events[0]!.frame.length;
      const replayWrites = sink.writes.slice(1).map((chunk) => chunk.length);
      for (const length of replayWrites.slice(0, -1)) {
        expect(length).toBeGreaterThanOrEqual(100);
        expect(length).toBeLessThan(100 + frameLength);
      }
      expect(collected.values).toEqual([]); // nothing goes through Nest's pipeline
    });

    it('a replay stalled by the client holds at most maxPendingLiveBytes of live events, then reads them from history', async () => {
      await emit(10, () => JSON.stringify('x'.repeat(20)));
      const sink = new ControlledSink();
      sink.writableGate = deferred();
      open(context({ replayWriteChars: 100, maxPendingLiveBytes: 200 }), sink);
      await waitFor(() => sink.writes.length === 2);
      await turns(3);
      // The client reads nothing; 30 live events (~900 bytes) arrive in one batch: more than the bound.
      await emit(30, () => JSON.stringify('y'.repeat(20)));
      await turns(3);
      sink.writableGate.resolve();
      const { events } = await memory.read(taskId, 0, 100);
      const expected = openFrame(0, 1_500) + framesOf(events);
      await waitFor(() => sink.text.length >= expected.length, 'the whole stream');
      await turns(3);
      // Every event once, in order; the dropped live batch came from history (string writes), not as the live Buffer.
      expect(sink.text).toBe(expected);
      expect(sink.writes.some((chunk) => Buffer.isBuffer(chunk))).toBe(false);
      expect(logger.error).not.toHaveBeenCalled();
    });

    it('writes a live batch as the Buffer it shares with every other subscriber', async () => {
      const sinks = [new ControlledSink(), new ControlledSink()];
      for (const sink of sinks) open(context(), sink);
      await waitFor(() => sinks.every((sink) => sink.writes.length === 1));
      await turns(2);
      await emit(3);
      await waitFor(() => sinks.every((sink) => sink.writes.length === 2));
      const [a, b] = sinks.map((sink) => sink.writes[1]);
      expect(Buffer.isBuffer(a)).toBe(true);
      expect(a).toBe(b);
      const { events } = await memory.read(taskId, 0, 10);
      expect(a!.toString()).toBe(framesOf(events));
    });

    it('writes only the missing frames of a batch it partly replayed', async () => {
      await emit(2);
      const read = memory.read.bind(memory);
      // 3 and 4 are emitted together (one live batch); the read's snapshot falls between them.
      jest.spyOn(memory, 'read').mockImplementationOnce((...args) => {
        void memory.append(taskId, 'progress', '3'); // replayed, and in the live batch
        const slice = read(...args); // the in-memory store takes its snapshot synchronously
        void memory.append(taskId, 'progress', '4'); // only in the live batch
        return slice;
      });
      const sink = new ControlledSink();
      open(context(), sink);
      await waitFor(() => sink.writes.length === 3);
      await turns(3);
      const { events } = await memory.read(taskId, 0, 10);
      expect(sink.writes[2]).toBe(events[3]!.frame);
      expect(sink.text).toBe(openFrame(0, 1_500) + framesOf(events));
    });

    it('ends the subscription when the sink refuses a write (client gone or too slow)', async () => {
      const sink = new ControlledSink();
      const { collected } = open(context(), sink);
      await waitFor(() => sink.writes.length === 1);
      await turns(2);
      sink.refuse = true;
      await emit(1);
      await collected.done;
      expect(collected.completed).toBe(true);
      expect(hub.subscriptionCount).toBe(0);
    });

    it('completes only once the sink has flushed the end', async () => {
      await memory.finish(taskId, { status: 'completed', data: '{"status":"completed"}' });
      const sink = new ControlledSink();
      sink.flushGate = deferred();
      const { collected } = open(context(), sink);
      await waitFor(() => sink.writes.length === 2);
      await turns(3);
      expect(collected.completed).toBe(false);
      sink.flushGate.resolve();
      await collected.done;
      expect(collected.completed).toBe(true);
      expect(sink.text).toBe(`${openFrame(0, 1_500)}event: end\nid: 1\ndata: {"status":"completed"}\n\n`);
    });

    it('accepts a sink only while handling the open message', async () => {
      const { collected, subscription } = open(context());
      await waitFor(() => collected.values.length === 1);
      await nextTurn();
      expect(subscription().attachSink(new ControlledSink())).toBe(false);
      const sink = new ControlledSink();
      const second = open(context(), sink);
      await waitFor(() => sink.writes.length === 1);
      await turns(2);
      expect(second.subscription().attachSink(new ControlledSink())).toBe(false);
    });
  });

  describe('a reader that stalls during its replay (ResponseSink, fake timers)', () => {
    const TIMEOUT = 30_000;

    beforeEach(() => jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] }));
    afterEach(() => jest.useRealTimers());

    it('holds at most one replay write, is disconnected after slowConsumerTimeoutMs despite heartbeats, and frees its slot', async () => {
      await emit(200, (i) => JSON.stringify({ i, pad: 'x'.repeat(1_000) }));
      await memory.finish(taskId, { status: 'completed', data: '{"status":"completed"}' });
      const res = new StalledResponse(4_096); // a client that reads nothing past its receive buffer
      const sink = new ResponseSink(
        res as unknown as ServerResponse,
        { maxPendingBytes: 1024 * 1024, slowConsumerTimeoutMs: TIMEOUT },
        logger as unknown as Logger,
        () => ({ taskId, subscriberId: 'sub-1' }),
      );
      const { collected, subscription } = open(context({ replayWriteChars: 8_192 }), sink);
      await waitFor(() => hub.subscriberCount(taskId) === 1 && res.taken > 0, 'the replay to start');
      await turns(5);
      // One replay write (8 KiB and one event), then it waits for the socket.
      const held = res.taken + res.writableLength;
      expect(held).toBeLessThan(8_192 + 1_100 + 64);
      expect(collected.finished).toBe(false);

      // Heartbeats on the stalled stream do not count as progress.
      for (let second = 0; second < TIMEOUT / 1_000 - 1; second++) {
        subscription().heartbeat();
        jest.advanceTimersByTime(1_000);
      }
      await turns(2);
      expect(res.destroyed).toBe(false);
      expect(hub.subscriberCount(taskId)).toBe(1);

      jest.advanceTimersByTime(1_000);
      await waitFor(() => collected.finished, 'the stream to end');
      expect(res.destroyed).toBe(true);
      expect(collected.completed).toBe(true); // no `end` event: the client resumes from history
      expect(hub.subscriberCount(taskId)).toBe(0);
      expect(res.taken + res.writableLength).toBeLessThanOrEqual(held + 30 * HEARTBEAT_FRAME.length); // heartbeats only
      expect(logger.warn).toHaveBeenCalledWith(
        expect.objectContaining({
          message: expect.stringContaining('has not read'),
          taskId,
          subscriberId: 'sub-1',
        }),
      );
    });
  });
});
