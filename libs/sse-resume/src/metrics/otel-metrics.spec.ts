import { createNoopMeter, metrics, type Meter } from '@opentelemetry/api';
import type { SseResumeMeter } from '../interfaces/metrics.interface';
import { TaskEvent } from '../task-event';
import { createTestMeter, type TestMeter } from '../testing/metrics';
import {
  ATTRIBUTES,
  INSTRUMENTS,
  loadOpenTelemetryApi,
  OtelSseResumeMetrics,
  STORE_DURATION_BUCKETS,
} from './otel-metrics';

describe('OtelSseResumeMetrics', () => {
  let test: TestMeter;
  let recorder: OtelSseResumeMetrics;

  beforeEach(() => {
    test = createTestMeter();
    recorder = new OtelSseResumeMetrics(test.meter);
  });
  afterEach(() => test.shutdown());

  it('an OpenTelemetry Meter is an SseResumeMeter as it is (no cast)', () => {
    const meter: Meter = test.meter;
    const accepted: SseResumeMeter = meter;
    expect(accepted).toBe(meter);
  });

  it('names, units and descriptions of every instrument, OpenTelemetry style', async () => {
    recorder.taskStarted();
    recorder.taskEnded('completed');
    recorder.eventEmitted(new TaskEvent(1, 'progress', '{}'));
    recorder.streamOpened();
    recorder.streamResumed();
    recorder.eventsReplayed(1);
    recorder.gapSent();
    recorder.subscriberDropped('slow');
    recorder.storeOperation('append', 0.001, true);
    recorder.evictionRun(1);
    const snapshot = await test.collect();
    const units = Object.fromEntries(snapshot.names.map((name) => [name, snapshot.descriptor(name)?.unit]));
    expect(units).toEqual({
      'sse_resume.events.emitted': '{event}',
      'sse_resume.events.emitted.size': 'By',
      'sse_resume.events.replayed': '{event}',
      'sse_resume.eviction.evicted': '{task}',
      'sse_resume.eviction.runs': '{run}',
      'sse_resume.gaps.sent': '{gap}',
      'sse_resume.store.errors': '{error}',
      'sse_resume.store.operation.duration': 's',
      'sse_resume.streams.open': '{stream}',
      'sse_resume.streams.resumed': '{stream}',
      'sse_resume.subscribers.dropped': '{subscriber}',
      'sse_resume.tasks.ended': '{task}',
      'sse_resume.tasks.running': '{task}',
      'sse_resume.tasks.started': '{task}',
    });
    expect(snapshot.names).toEqual(Object.values(INSTRUMENTS).sort());
    for (const name of snapshot.names) {
      expect(name).toMatch(/^sse_resume(\.[a-z_]+)+$/);
      expect(snapshot.descriptor(name)?.description).not.toBe('');
    }
  });

  it('tasks: started, ended by status, running up and down', async () => {
    for (let i = 0; i < 4; i++) recorder.taskStarted();
    recorder.taskEnded('completed');
    recorder.taskEnded('completed');
    recorder.taskEnded('failed');
    const snapshot = await test.collect();
    expect(snapshot.value(INSTRUMENTS.tasksStarted)).toBe(4);
    expect(snapshot.value(INSTRUMENTS.tasksEnded, { [ATTRIBUTES.taskStatus]: 'completed' })).toBe(2);
    expect(snapshot.value(INSTRUMENTS.tasksEnded, { [ATTRIBUTES.taskStatus]: 'failed' })).toBe(1);
    expect(snapshot.value(INSTRUMENTS.tasksEnded, { [ATTRIBUTES.taskStatus]: 'cancelled' })).toBeUndefined();
    expect(snapshot.value(INSTRUMENTS.tasksRunning)).toBe(1);
  });

  it('events: count and UTF-8 bytes of name + data; replayed by chunk; gaps', async () => {
    recorder.eventEmitted(new TaskEvent(1, 'progress', '{"a":1}'));
    recorder.eventEmitted(new TaskEvent(2, 'log', '"é"'));
    recorder.eventsReplayed(7);
    recorder.eventsReplayed(3);
    recorder.gapSent();
    const snapshot = await test.collect();
    expect(snapshot.value(INSTRUMENTS.eventsEmitted)).toBe(2);
    expect(snapshot.value(INSTRUMENTS.eventsEmittedSize)).toBe('progress'.length + 7 + 'log'.length + 4);
    expect(snapshot.value(INSTRUMENTS.eventsReplayed)).toBe(10);
    expect(snapshot.value(INSTRUMENTS.gapsSent)).toBe(1);
  });

  it('streams: open up and down, resumed; subscribers dropped by reason', async () => {
    recorder.streamOpened();
    recorder.streamOpened();
    recorder.streamClosed();
    recorder.streamResumed();
    recorder.subscriberDropped('slow');
    recorder.subscriberDropped('stalled');
    recorder.subscriberDropped('stalled');
    const snapshot = await test.collect();
    expect(snapshot.value(INSTRUMENTS.streamsOpen)).toBe(1);
    expect(snapshot.value(INSTRUMENTS.streamsResumed)).toBe(1);
    expect(snapshot.value(INSTRUMENTS.subscribersDropped, { [ATTRIBUTES.dropReason]: 'slow' })).toBe(1);
    expect(snapshot.value(INSTRUMENTS.subscribersDropped, { [ATTRIBUTES.dropReason]: 'stalled' })).toBe(2);
  });

  it('store: a duration histogram in seconds by operation (buckets for seconds), errors by operation', async () => {
    recorder.storeOperation('append', 0.00002, false);
    recorder.storeOperation('append', 0.003, true);
    recorder.storeOperation('create', 0.2, false);
    const snapshot = await test.collect();
    const append = { [ATTRIBUTES.storeOperation]: 'append' };
    const histogram = snapshot.histogram(INSTRUMENTS.storeDuration, append);
    expect(histogram?.count).toBe(2);
    expect(histogram?.sum).toBeCloseTo(0.00302, 8);
    expect(histogram?.buckets.boundaries).toEqual(STORE_DURATION_BUCKETS);
    expect(snapshot.value(INSTRUMENTS.storeDuration, { [ATTRIBUTES.storeOperation]: 'create' })).toBe(1);
    expect(snapshot.value(INSTRUMENTS.storeErrors, append)).toBe(1);
    expect(snapshot.attributeSets(INSTRUMENTS.storeErrors)).toEqual([append]);
  });

  it('eviction: runs, and tasks evicted (nothing added for a run that evicted none)', async () => {
    recorder.evictionRun(0);
    recorder.evictionRun(3);
    const snapshot = await test.collect();
    expect(snapshot.value(INSTRUMENTS.evictionRuns)).toBe(2);
    expect(snapshot.value(INSTRUMENTS.evictionEvicted)).toBe(3);
  });

  it('passes the same frozen attribute object on every measurement (nothing allocated per call)', () => {
    const seen: unknown[] = [];
    const counter = { add: (_: number, attributes?: unknown) => seen.push(attributes) };
    const histogram = { record: (_: number, attributes?: unknown) => seen.push(attributes) };
    const fake: SseResumeMeter = {
      createCounter: () => counter,
      createUpDownCounter: () => counter,
      createHistogram: () => histogram,
    };
    const fakeRecorder = new OtelSseResumeMetrics(fake);
    fakeRecorder.eventEmitted(new TaskEvent(1, 'progress', '{}'));
    fakeRecorder.eventEmitted(new TaskEvent(2, 'progress', '{}'));
    fakeRecorder.taskEnded('failed');
    fakeRecorder.taskEnded('failed');
    fakeRecorder.storeOperation('read', 0.1, false);
    fakeRecorder.storeOperation('read', 0.1, false);
    expect(seen.every((a) => a !== undefined && Object.isFrozen(a))).toBe(true);
    expect(seen[0]).toBe(seen[2]); // emitted, twice
    expect(seen[4]).toBe(seen[6]); // ended failed, twice (each also moves running)
    expect(seen[8]).toBe(seen[9]); // read, twice
  });
});

describe('loadOpenTelemetryApi', () => {
  it('loads @opentelemetry/api once, when installed', async () => {
    const first = loadOpenTelemetryApi();
    expect(loadOpenTelemetryApi()).toBe(first);
    const api = await first;
    expect(api?.createNoopMeter()).toBe(createNoopMeter());
    expect(api?.metrics.getMeter('x')).toBe(metrics.getMeter('x'));
  });
});
