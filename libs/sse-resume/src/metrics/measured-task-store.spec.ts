import { StoreUnavailableError, TaskNotRunningError, TooManyTasksError } from '../errors';
import type { TaskStore } from '../interfaces/task-store.interface';
import { resolveOptions, storeLimits } from '../sse-resume.options';
import { InMemoryTaskStore } from '../stores/in-memory/in-memory-task-store';
import { createTestMeter, type TestMeter } from '../testing/metrics';
import { isStoreFailure, MeasuredTaskStore, measureStore } from './measured-task-store';
import { INSTRUMENTS, OtelSseResumeMetrics } from './otel-metrics';
import { NOOP_METRICS } from './sse-resume-metrics';

const op = (operation: string) => ({ 'sse_resume.store.operation': operation });
const task = (taskId: string) => ({ taskId, keyHash: 'h', createdAt: Date.now() });

describe('MeasuredTaskStore', () => {
  let test: TestMeter;
  let inner: InMemoryTaskStore;
  let store: MeasuredTaskStore;

  beforeEach(() => {
    test = createTestMeter();
    inner = new InMemoryTaskStore(storeLimits(resolveOptions({ maxTasks: 2 })));
    store = new MeasuredTaskStore(inner, new OtelSseResumeMetrics(test.meter));
  });
  afterEach(async () => {
    await store.close();
    await test.shutdown();
  });

  it('times every data call by operation, in seconds, and passes the results through', async () => {
    await store.create(task('a'));
    expect((await store.lookup('a')).state).toBe('found');
    expect(await store.findTaskIdByKeyHash('h')).toBe('a');
    const unwatch = await store.watch('a', () => undefined);
    expect((await store.append('a', 'progress', '{}')).seq).toBe(1);
    expect((await store.read('a', 0, 10)).events).toHaveLength(1);
    expect((await store.finish('a', { status: 'completed', data: '{}' }))?.seq).toBe(2);
    expect(await store.evictExpired(Date.now())).toBe(0);
    unwatch();
    const snapshot = await test.collect();
    const operations = ['create', 'lookup', 'findTaskIdByKeyHash', 'watch', 'append', 'read'];
    for (const name of [...operations, 'finish', 'evictExpired']) {
      const histogram = snapshot.histogram(INSTRUMENTS.storeDuration, op(name));
      expect({ name, count: histogram?.count }).toEqual({ name, count: 1 });
      expect(histogram!.sum).toBeGreaterThanOrEqual(0);
      expect(histogram!.sum).toBeLessThan(1); // seconds, not milliseconds
    }
    expect(snapshot.names).not.toContain(INSTRUMENTS.storeErrors);
  });

  it("typed refusals are timed but are not store errors; the store's own failures are", async () => {
    await store.create(task('a'));
    await store.create(task('b'));
    await expect(store.create(task('c'))).rejects.toBeInstanceOf(TooManyTasksError);
    await store.finish('a', { status: 'completed', data: '{}' });
    await expect(store.append('a', 'progress', '{}')).rejects.toBeInstanceOf(TaskNotRunningError);
    jest.spyOn(inner, 'lookup').mockRejectedValueOnce(new StoreUnavailableError('down'));
    await expect(store.lookup('a')).rejects.toBeInstanceOf(StoreUnavailableError);
    jest.spyOn(inner, 'read').mockRejectedValueOnce(new Error('ERR reply'));
    await expect(store.read('a', 0, 1)).rejects.toThrow('ERR reply');
    const snapshot = await test.collect();
    expect(snapshot.value(INSTRUMENTS.storeDuration, op('create'))).toBe(3);
    expect(snapshot.value(INSTRUMENTS.storeErrors, op('create'))).toBeUndefined();
    expect(snapshot.value(INSTRUMENTS.storeErrors, op('append'))).toBeUndefined();
    expect(snapshot.value(INSTRUMENTS.storeErrors, op('lookup'))).toBe(1);
    expect(snapshot.value(INSTRUMENTS.storeErrors, op('read'))).toBe(1);
  });

  it('times readFrames when the store has it (Redis), and keeps it absent when not (memory)', async () => {
    const slice = { text: '', count: 0, lastId: 0, ended: false, firstEventId: 1, lastEventId: 0 };
    const readFrames = jest.fn().mockResolvedValue(slice);
    const framed = new MeasuredTaskStore(
      Object.assign(Object.create(inner) as TaskStore, { readFrames }),
      new OtelSseResumeMetrics(test.meter),
    );
    expect(await framed.readFrames!('a', 3, 10, 1000)).toBe(slice);
    expect(readFrames).toHaveBeenCalledWith('a', 3, 10, 1000);
    expect((await test.collect()).value(INSTRUMENTS.storeDuration, op('readFrames'))).toBe(1);
    expect(store.readFrames).toBeUndefined();
  });

  it('times appendNow (memory) like append, its failures too; absent when the store has none', async () => {
    await store.create(task('a'));
    expect(store.appendNow!('a', 'progress', '1').seq).toBe(1);
    await store.finish('a', { status: 'completed', data: '{}' });
    expect(() => store.appendNow!('a', 'progress', '2')).toThrow(TaskNotRunningError);
    expect(() => store.appendNow!('gone', 'progress', '2')).toThrow();
    const snapshot = await test.collect();
    expect(snapshot.value(INSTRUMENTS.storeDuration, op('append'))).toBe(3);
    expect(snapshot.value(INSTRUMENTS.storeErrors, op('append'))).toBeUndefined(); // typed refusals
    const bare = new MeasuredTaskStore({ shared: false } as unknown as TaskStore, NOOP_METRICS);
    expect(bare.appendNow).toBeUndefined();
  });

  it('passes properties through, and keeps optional methods absent when the store has none', async () => {
    expect(store.shared).toBe(false);
    expect(store.kind).toBe(inner.kind);
    expect(store.replayChunk).toBeUndefined();
    expect(store.maintenanceIntervalMs).toBeUndefined();
    const listener = jest.fn();
    const calls: unknown[] = [];
    const minimal = {
      shared: true,
      kind: 'mine',
      replayChunk: 7,
      maintenanceIntervalMs: 50,
      init: () => Promise.resolve(calls.push('init')).then(() => undefined),
      onTaskEnded: (l: unknown) => {
        calls.push(l);
        return () => undefined;
      },
      close: () => Promise.resolve(calls.push('close')).then(() => undefined),
    } as unknown as TaskStore;
    const bare = new MeasuredTaskStore(minimal, NOOP_METRICS);
    expect([bare.shared, bare.kind, bare.replayChunk, bare.maintenanceIntervalMs]).toEqual([
      true,
      'mine',
      7,
      50,
    ]);
    expect(bare.readFrames).toBeUndefined();
    expect([bare.claim, bare.checkpoint, bare.releaseClaim, bare.appendOnce]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    expect(store.init).toBeUndefined();
    expect(store.onTaskEnded).toBeUndefined();
    await bare.init!();
    bare.onTaskEnded!(listener);
    await bare.close();
    expect(calls).toEqual(['init', listener, 'close']);
  });

  it('passes the durable methods through, timing checkpoint and appendOnce as appends', async () => {
    await store.create({ ...task('d'), durable: true });
    expect(await store.claim!('d', 'worker')).toEqual({ attempt: 1, lastEventId: 0 });
    expect((await store.checkpoint!('d', 'progress', '1', '{"s":1}')).seq).toBe(1);
    store.releaseClaim!('d');
    const once = await store.appendOnce!('d', 'events', '01', [{ type: 'progress', data: '2' }]);
    expect(once.map((event) => event.seq)).toEqual([2]);
    expect(await store.claim!('d', 'worker')).toEqual({
      attempt: 2,
      lastEventId: 2,
      checkpoint: { state: '{"s":1}', eventId: 1 },
    });
    const snapshot = await test.collect();
    expect(snapshot.histogram(INSTRUMENTS.storeDuration, op('append'))?.count).toBe(2);
  });

  it('measureStore wraps only when metrics are on', () => {
    expect(measureStore(inner, NOOP_METRICS)).toBe(inner);
    expect(measureStore(inner, new OtelSseResumeMetrics(test.meter))).toBeInstanceOf(MeasuredTaskStore);
  });

  it('isStoreFailure: anything but a typed refusal, and StoreUnavailableError', () => {
    expect(isStoreFailure(new Error('x'))).toBe(true);
    expect(isStoreFailure('x')).toBe(true);
    expect(isStoreFailure(new StoreUnavailableError('x'))).toBe(true);
    expect(isStoreFailure(new TooManyTasksError(1, 5))).toBe(false);
  });
});
