import { describe, expect, it, jest } from '@jest/globals';
import { StoreUnavailableError } from '../errors';
import type { TaskStore } from '../interfaces/task-store.interface';
import { InMemoryTaskStore } from '../stores/in-memory/in-memory-task-store';
import { testStoreLimits } from '../testing/limits';
import { DEFAULT_HEALTH_TIMEOUT_MS, probeStore } from './store-health-probe';

/** The in-memory store with some of its methods replaced. */
function storeWith(overrides: Partial<TaskStore>): TaskStore {
  return Object.assign(new InMemoryTaskStore(testStoreLimits()), overrides);
}

const never = () => new Promise<never>(() => undefined);

describe('probeStore', () => {
  it('hangs no longer than 1 s by default', () => {
    expect(DEFAULT_HEALTH_TIMEOUT_MS).toBe(1_000);
  });

  it('reports a store without health() (memory) up after a lookup, with its latency and kind', async () => {
    const store = new InMemoryTaskStore(testStoreLimits());
    const lookup = jest.spyOn(store, 'lookup');
    expect(await probeStore(store, 1_000)).toEqual({
      status: 'up',
      latencyMs: expect.any(Number),
      store: 'memory',
    });
    expect(lookup).toHaveBeenCalledWith('sse-resume-health-probe');
  });

  it('reports such a store down when its lookup fails or hangs past the timeout', async () => {
    const failing = storeWith({
      lookup: () => Promise.reject(new StoreUnavailableError('connection refused')),
    });
    expect(await probeStore(failing, 1_000)).toEqual({
      status: 'down',
      message: 'task store unavailable: connection refused',
      store: 'memory',
    });
    const started = Date.now();
    const hung = await probeStore(storeWith({ lookup: never, kind: undefined }), 50);
    expect(hung).toEqual({
      status: 'down',
      message: 'the store gave no answer within 50 ms',
      store: 'custom',
    });
    expect(Date.now() - started).toBeLessThan(500);
  });

  it("passes the timeout to a store's own health() and reports what it says", async () => {
    const health = jest.fn(async (_options: { timeoutMs: number }) => ({
      status: 'down' as const,
      message: 'lagging',
      latencyMs: 3,
      shards: 2,
    }));
    expect(await probeStore(storeWith({ health, kind: 'sharded' }), 250)).toEqual({
      status: 'down',
      message: 'lagging',
      latencyMs: 3,
      shards: 2,
      store: 'sharded',
    });
    expect(health).toHaveBeenCalledWith({ timeoutMs: 250 });
  });

  it('cuts off a health() that overruns its timeout, and turns its errors into down', async () => {
    const started = Date.now();
    expect(await probeStore(storeWith({ health: never }), 50)).toEqual({
      status: 'down',
      message: 'the store gave no answer within 150 ms',
      store: 'memory',
    });
    expect(Date.now() - started).toBeLessThan(600);
    expect(await probeStore(storeWith({ health: () => Promise.reject(new Error('boom')) }), 50)).toEqual({
      status: 'down',
      message: 'boom',
      store: 'memory',
    });
  });
});
