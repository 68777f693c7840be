import {
  InvalidEventError,
  TaskAbortedError,
  TaskFencedError,
  TaskNotRunningError,
  TaskOverloadedError,
} from '../errors';
import { InMemoryTaskStore } from '../stores/in-memory/in-memory-task-store';
import { testStoreLimits } from '../testing/limits';
import { TaskSerializer } from '../tasks/task-serializer';
import { DurableAttempt } from './durable-attempt';

describe('DurableAttempt', () => {
  let store: InMemoryTaskStore;
  const logger = { log: jest.fn(), error: jest.fn(), warn: jest.fn() };
  const settings = { emitBytesPerTurn: 1 << 20, maxUnstoredBytes: 1 << 20 };

  async function attempt(overrides = settings): Promise<DurableAttempt> {
    await store.create({ taskId: 't1', keyHash: 'h', createdAt: Date.now(), durable: true });
    const claim = await store.claim('t1', 'me');
    return new DurableAttempt(
      't1',
      claim.attempt,
      undefined,
      store,
      new TaskSerializer(1_000, logger),
      overrides,
    );
  }

  beforeEach(() => {
    store = new InMemoryTaskStore(testStoreLimits());
  });

  it('emits and checkpoints through the store; the next claim gets the state', async () => {
    const running = await attempt();
    expect(running.context.attempt).toBe(1);
    expect(running.context.lastCheckpoint).toBeUndefined();
    expect(await running.context.emit({ a: 1 })).toBe(1);
    expect(await running.context.checkpoint({ step: 2 }, { b: 2 }, { event: 'log' })).toBe(2);
    const next = await store.claim('t1', 'other');
    expect(next).toEqual({ attempt: 2, lastEventId: 2, checkpoint: { state: '{"step":2}', eventId: 2 } });
    const { events } = await store.read('t1', 0, 10);
    expect(events.map((e) => [e.type, e.data])).toEqual([
      ['progress', '{"a":1}'],
      ['log', '{"b":2}'],
    ]);
  });

  it('once fenced, refuses emits at once with TaskFencedError and aborts its signal', async () => {
    const running = await attempt();
    expect(running.end('fenced', new TaskAbortedError('fenced', 'newer attempt'))).toBe(true);
    expect(running.end('ended')).toBe(false); // the first end wins
    expect(running.over).toBe('fenced');
    expect(running.signal.aborted).toBe(true);
    expect((running.signal.reason as TaskAbortedError).code).toBe('fenced');
    await expect(running.context.emit(1)).rejects.toThrow(TaskFencedError);
    await expect(running.context.checkpoint({}, 1)).rejects.toThrow(TaskFencedError);
    expect((await store.read('t1', 0, 10)).events).toHaveLength(0);
  });

  it('a settled handler keeps its signal, and later emits are refused', async () => {
    const running = await attempt();
    running.end('settled', undefined, 'completed');
    expect(running.signal.aborted).toBe(false);
    await expect(running.context.emit(1)).rejects.toThrow('(status: completed)');
  });

  it('after the task ended, refuses emits with TaskNotRunningError (its status)', async () => {
    const running = await attempt();
    running.end('ended', new TaskAbortedError('cancelled', 'Task cancelled'), 'cancelled');
    await expect(running.context.emit(1)).rejects.toThrow('task t1 is not running (status: cancelled)');
  });

  it('stops when the store says the task ended (cancelled elsewhere before the news came)', async () => {
    const running = await attempt();
    await store.finish('t1', { status: 'cancelled', data: '{"status":"cancelled"}' });
    await expect(running.context.emit(1)).rejects.toThrow(TaskNotRunningError);
    expect(running.over).toBe('ended');
    expect((running.signal.reason as TaskAbortedError).code).toBe('cancelled');
    await running.whenOver;
  });

  it('an event the store cannot take fails the attempt (to be retried)', async () => {
    const running = await attempt();
    const down = new Error('store down');
    jest.spyOn(store, 'append').mockRejectedValueOnce(down);
    await expect(running.context.emit(1)).rejects.toBe(down);
    expect(running.over).toBe('error');
    expect(running.failure).toBe(down);
  });

  it('reserves the retry event and checks data and checkpoint state', async () => {
    const running = await attempt();
    await expect(running.context.emit(1, { event: 'retry' })).rejects.toThrow(
      'the event name "retry" is reserved',
    );
    await expect(running.context.emit(1, { event: 'end' })).rejects.toThrow(InvalidEventError);
    await expect(running.context.checkpoint(10n, 1)).rejects.toThrow(
      'checkpoint state is not JSON-serializable',
    );
    await expect(running.context.checkpoint(undefined, 1)).rejects.toThrow(
      'checkpoint state is not JSON-serializable',
    );
    expect(running.over).toBeUndefined();
  });

  it('refuses past maxUnstoredBytes (emits not awaited) and fails the attempt', async () => {
    const running = await attempt({ emitBytesPerTurn: 1 << 20, maxUnstoredBytes: 30 });
    const first = running.context.emit('x'.repeat(10));
    await expect(running.context.emit('y'.repeat(20))).rejects.toThrow(TaskOverloadedError);
    expect(running.over).toBe('error');
    await first;
  });
});
