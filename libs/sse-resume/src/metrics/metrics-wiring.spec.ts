import type { Logger, MessageEvent } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { Subject } from 'rxjs';
import { TaskError } from '../errors';
import type { StartedTask } from '../interfaces/task-context.interface';
import { resolveOptions, storeLimits } from '../sse-resume.options';
import { SseTaskService } from '../sse-task.service';
import { InMemoryTaskStore } from '../stores/in-memory/in-memory-task-store';
import { ResponseSink } from '../streams/response-sink';
import { collect, deferred, nextTurn, waitFor } from '../testing/async';
import { createTestMeter, type MetricsSnapshot, type TestMeter } from '../testing/metrics';
import { rawRequest } from '../testing/raw-http';
import { startTestApp } from '../testing/nest-app';
import { shutDown } from '../testing/service';
import { TaskStreamController } from '../testing/stream-controller';
import { StalledResponse } from '../testing/stalled-response';
import { ATTRIBUTES, INSTRUMENTS, OtelSseResumeMetrics } from './otel-metrics';
import type { SseResumeOptions } from '../interfaces/sse-resume-options.interface';
import { NOOP_METRICS, SSE_RESUME_METRICS } from './sse-resume-metrics';

const ended = (status: string) => ({ [ATTRIBUTES.taskStatus]: status });
const op = (operation: string) => ({ [ATTRIBUTES.storeOperation]: operation });

/** The service's parts report to the metrics at the right places. */
describe('metrics, as the service records them', () => {
  let test: TestMeter;
  let service: SseTaskService;
  let store: InMemoryTaskStore;

  function build(options: SseResumeOptions = {}): void {
    const resolved = resolveOptions(options);
    store = new InMemoryTaskStore(storeLimits(resolved));
    service = new SseTaskService(store, resolved, new OtelSseResumeMetrics(test.meter));
  }

  async function streamToEnd(task: StartedTask, lastEventId?: number): Promise<MessageEvent[]> {
    const collected = collect(service.stream(task.taskId, { resumeKey: task.resumeKey, lastEventId }));
    await collected.done;
    if (collected.error !== undefined) throw collected.error as Error;
    return collected.values;
  }

  async function finished(task: StartedTask): Promise<void> {
    for (;;) {
      if ((await service.getTaskInfo(task.taskId)).status !== 'running') return;
      await nextTurn();
    }
  }

  beforeEach(() => {
    test = createTestMeter();
  });
  afterEach(async () => {
    await shutDown(service);
    await test.shutdown();
  });

  it('tasks started, ended by status, running; events emitted and their bytes; store calls timed', async () => {
    build();
    const release = deferred();
    const completed = await service.start(async ({ emit }) => {
      await emit({ n: 1 });
      await emit({ n: 2 }, { event: 'log' });
      await release.promise;
      return 'ok';
    });
    const failing = await service.start(async ({ emit }) => {
      await emit({ n: 1 });
      await release.promise;
      throw new TaskError('no');
    });
    const gate = deferred();
    const cancelled = await service.start(({ signal }) => gate.promise.then(() => signal.aborted));
    expect((await test.collect()).value(INSTRUMENTS.tasksRunning)).toBe(3);
    release.resolve();
    await Promise.all([finished(completed), finished(failing)]);
    await service.cancel(cancelled.taskId);
    gate.resolve();

    const snapshot = await test.collect();
    expect(snapshot.value(INSTRUMENTS.tasksStarted)).toBe(3);
    expect(snapshot.value(INSTRUMENTS.tasksRunning)).toBe(0);
    expect(snapshot.value(INSTRUMENTS.tasksEnded, ended('completed'))).toBe(1);
    expect(snapshot.value(INSTRUMENTS.tasksEnded, ended('failed'))).toBe(1);
    expect(snapshot.value(INSTRUMENTS.tasksEnded, ended('cancelled'))).toBe(1);
    expect(snapshot.value(INSTRUMENTS.eventsEmitted)).toBe(3); // end events are not emitted by tasks
    const bytes = 'progress'.length * 2 + '{"n":1}'.length * 2 + 'log'.length + '{"n":2}'.length;
    expect(snapshot.value(INSTRUMENTS.eventsEmittedSize)).toBe(bytes);
    expect(snapshot.value(INSTRUMENTS.storeDuration, op('create'))).toBe(3);
    expect(snapshot.value(INSTRUMENTS.storeDuration, op('append'))).toBe(3);
    expect(snapshot.value(INSTRUMENTS.storeDuration, op('finish'))).toBe(3);
  });

  it('a timeout ends a task as failed; updateProgress counts as an emitted event', async () => {
    build();
    const never = await service.start(() => new Promise(() => undefined), { timeoutMs: 5 });
    const outside = await service.start(() => new Promise(() => undefined));
    await service.updateProgress(outside.taskId, { from: 'outside' });
    await finished(never);
    const snapshot = await test.collect();
    expect(snapshot.value(INSTRUMENTS.tasksEnded, ended('failed'))).toBe(1);
    expect(snapshot.value(INSTRUMENTS.tasksRunning)).toBe(1);
    expect(snapshot.value(INSTRUMENTS.eventsEmitted)).toBe(1);
  });

  it('streams open and closed, resumes, events replayed per subscriber, a gap', async () => {
    build({ historyLimit: 3 });
    const task = await service.start(async ({ emit }) => {
      for (let n = 1; n <= 4; n++) await emit({ n });
    });
    await finished(task); // events 1..4 + end 5; history keeps 3..5
    await streamToEnd(task); // gap 1..2, replays 3, 4, end
    await streamToEnd(task, 3); // resumes: replays 4, end
    const snapshot = await test.collect();
    expect(snapshot.value(INSTRUMENTS.gapsSent)).toBe(1);
    expect(snapshot.value(INSTRUMENTS.eventsReplayed)).toBe(3 + 2);
    expect(snapshot.value(INSTRUMENTS.streamsResumed)).toBe(1);
    expect(snapshot.value(INSTRUMENTS.streamsOpen)).toBe(0);
    expect(snapshot.value(INSTRUMENTS.storeDuration, op('watch'))).toBe(2);
  });

  it('live events are not replayed ones; a stream counts as open until it ends', async () => {
    build();
    const events = new Subject<unknown>();
    const task = await service.start(events);
    const collected = collect(service.stream(task.taskId, { resumeKey: task.resumeKey }));
    await waitFor(() => collected.values.length > 0, 'the open message');
    expect((await test.collect()).value(INSTRUMENTS.streamsOpen)).toBe(1);
    events.next({ n: 1 });
    events.next({ n: 2 });
    events.complete();
    await collected.done;
    const snapshot = await test.collect();
    expect(snapshot.value(INSTRUMENTS.eventsReplayed)).toBeUndefined();
    expect(snapshot.value(INSTRUMENTS.streamsResumed)).toBeUndefined();
    expect(snapshot.value(INSTRUMENTS.streamsOpen)).toBe(0);
    expect(snapshot.value(INSTRUMENTS.eventsEmitted)).toBe(2);
  });

  it('shutdown ends open streams: open goes back to 0', async () => {
    build();
    const task = await service.start(() => new Promise(() => undefined));
    const streams = [1, 2].map(() => collect(service.stream(task.taskId, { resumeKey: task.resumeKey })));
    await waitFor(() => streams.every((s) => s.values.length > 0), 'both open');
    expect((await test.collect()).value(INSTRUMENTS.streamsOpen)).toBe(2);
    await shutDown(service);
    const snapshot = await test.collect();
    expect(snapshot.value(INSTRUMENTS.streamsOpen)).toBe(0);
    expect(snapshot.value(INSTRUMENTS.tasksRunning)).toBe(0);
    expect(snapshot.value(INSTRUMENTS.tasksEnded, ended('failed'))).toBe(1);
  });

  it('eviction runs and the tasks they evicted', async () => {
    build({ ttl: 1, expiredRetentionMs: 1 });
    await service.start(async () => 'done');
    await waitFor(() => service.stats.runningTasks === 0, 'the end');
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await service.evictExpired()).toBe(1);
    expect(await service.evictExpired()).toBeGreaterThanOrEqual(0);
    const snapshot = await test.collect();
    expect(snapshot.value(INSTRUMENTS.evictionRuns)).toBe(2);
    expect(snapshot.value(INSTRUMENTS.evictionEvicted)).toBeGreaterThanOrEqual(1);
    expect(snapshot.value(INSTRUMENTS.storeDuration, op('evictExpired'))).toBe(2);
  });
});

describe('metrics: subscribers dropped by ResponseSink (fake timers)', () => {
  let test: TestMeter;
  const logger = { error: jest.fn(), warn: jest.fn() } as unknown as Logger;

  beforeEach(() => {
    jest.useFakeTimers();
    test = createTestMeter();
  });
  afterEach(async () => {
    jest.useRealTimers();
    await test.shutdown();
  });

  const sinkOn = (res: StalledResponse, maxPendingBytes: number) =>
    new ResponseSink(
      res as unknown as ServerResponse,
      { maxPendingBytes, slowConsumerTimeoutMs: 30_000 },
      logger,
      () => ({ taskId: 't', subscriberId: 's' }),
      new OtelSseResumeMetrics(test.meter),
    );

  it('slow: unsent output past maxPendingBytes; stalled: no drain for slowConsumerTimeoutMs', async () => {
    const slow = new StalledResponse(100);
    const slowSink = sinkOn(slow, 1_000);
    slowSink.write('x'.repeat(2_000));
    expect(slowSink.write('more')).toBe(false);
    const stalled = new StalledResponse(100);
    sinkOn(stalled, 1024 * 1024).write('x'.repeat(2_000));
    jest.advanceTimersByTime(30_000);
    expect([slow.destroyed, stalled.destroyed]).toEqual([true, true]);
    const snapshot: MetricsSnapshot = await test.collect();
    expect(snapshot.value(INSTRUMENTS.subscribersDropped, { [ATTRIBUTES.dropReason]: 'slow' })).toBe(1);
    expect(snapshot.value(INSTRUMENTS.subscribersDropped, { [ATTRIBUTES.dropReason]: 'stalled' })).toBe(1);
  });
});

describe('metrics through the module (forRoot({ metrics: { meter } }), @SseResume() route)', () => {
  it('counts a stream the interceptor writes, and nothing at all with metrics: false', async () => {
    const test = createTestMeter();
    const app = await startTestApp('express', [TaskStreamController], { metrics: { meter: test.meter } });
    const off = await startTestApp('express', [TaskStreamController], { metrics: false });
    try {
      for (const { tasks, url } of [app, off]) {
        const task = await tasks.start(async ({ emit }) => {
          await emit({ n: 1 });
        });
        await waitFor(() => tasks.stats.runningTasks === 0, 'the end');
        const response = await rawRequest(`${url}/tasks/${task.taskId}/events`, {
          headers: { 'x-resume-key': task.resumeKey, 'Last-Event-ID': '0' },
        });
        expect(response.text).toContain('event: end');
      }
      await waitFor(() => app.tasks.stats.openStreams === 0, 'the stream closed');
      expect(off.app.get(SSE_RESUME_METRICS)).toBe(NOOP_METRICS);
      expect(app.app.get(SSE_RESUME_METRICS)).toBeInstanceOf(OtelSseResumeMetrics);
      const snapshot = await test.collect();
      expect(snapshot.value(INSTRUMENTS.tasksStarted)).toBe(1);
      expect(snapshot.value(INSTRUMENTS.streamsResumed)).toBe(1);
      expect(snapshot.value(INSTRUMENTS.eventsReplayed)).toBe(2);
      expect(snapshot.value(INSTRUMENTS.streamsOpen)).toBe(0);
    } finally {
      await app.close();
      await off.close();
      await test.shutdown();
    }
  });
});
