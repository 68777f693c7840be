import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startRedis, stopRedis } from '../../testing/private-redis';
import { testStoreLimits } from '../../testing/limits';
import type { RedisConnections } from './redis-connections';
import { RedisHealth } from './redis-health';
import type { RedisLeases } from './redis-leases';
import { RedisTaskStore } from './redis-task-store';

/** Connections and leases as RedisHealth reads them. */
function fakes(overrides: { client?: string; subscriber?: string; closed?: boolean; failed?: number } = {}) {
  const ping = jest.fn(async () => 'PONG');
  const connections = {
    closed: overrides.closed ?? false,
    client: { status: overrides.client ?? 'ready', ping },
    pubsub: { status: overrides.subscriber ?? 'ready' },
  } as unknown as RedisConnections;
  const leases = { failedRenewals: overrides.failed ?? 0 } as RedisLeases;
  return { health: new RedisHealth(connections, leases), ping };
}

describe('RedisHealth', () => {
  it('is up with the PING round trip, both connection states and the failed lease renewals', async () => {
    const { health } = fakes();
    const result = await health.check({ timeoutMs: 1_000 });
    expect(result).toEqual({
      status: 'up',
      latencyMs: expect.any(Number),
      connection: 'ready',
      subscriber: 'ready',
      failedLeaseRenewals: 0,
    });
  });

  it('is down, without a PING, while the command connection is not ready or the store is closed', async () => {
    const reconnecting = fakes({ client: 'reconnecting' });
    expect(await reconnecting.health.check({ timeoutMs: 1_000 })).toEqual({
      status: 'down',
      message: 'the Redis connection is reconnecting',
      connection: 'reconnecting',
      subscriber: 'ready',
      failedLeaseRenewals: 0,
    });
    expect(reconnecting.ping).not.toHaveBeenCalled();
    const closed = fakes({ closed: true });
    expect(await closed.health.check({ timeoutMs: 1_000 })).toMatchObject({
      status: 'down',
      message: 'the store is closed',
    });
  });

  it('is down while the subscriber connection is not ready (live events stop)', async () => {
    const { health } = fakes({ subscriber: 'connecting' });
    expect(await health.check({ timeoutMs: 1_000 })).toMatchObject({
      status: 'down',
      message: 'the Redis subscriber connection is connecting',
      latencyMs: expect.any(Number),
    });
  });

  it('is down once two lease renewals in a row failed (one more and the leases lapse), not after one', async () => {
    expect(await fakes({ failed: 1 }).health.check({ timeoutMs: 1_000 })).toMatchObject({
      status: 'up',
      failedLeaseRenewals: 1,
    });
    expect(await fakes({ failed: 2 }).health.check({ timeoutMs: 1_000 })).toMatchObject({
      status: 'down',
      message: 'the last 2 lease renewals failed: the tasks this instance runs may be failed as orphans',
      failedLeaseRenewals: 2,
    });
  });

  it('is down with the error when PING fails', async () => {
    const { health, ping } = fakes();
    ping.mockRejectedValueOnce(new Error('LOADING Redis is loading the dataset in memory'));
    expect(await health.check({ timeoutMs: 1_000 })).toMatchObject({
      status: 'down',
      message: 'LOADING Redis is loading the dataset in memory',
    });
  });
});

/** A private redis-server, paused with SIGSTOP: the connection stays open and nothing answers. */
describe('RedisTaskStore.health() against a hung Redis', () => {
  let redis: ChildProcess;
  let dir: string;
  let store: RedisTaskStore;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sse-redis-health-'));
    const port = await freePort();
    redis = await startRedis(port, dir, false);
    store = new RedisTaskStore(testStoreLimits(), { url: `redis://127.0.0.1:${port}`, keyPrefix: 'health:' });
    await store.init();
  });
  afterAll(async () => {
    redis.kill('SIGCONT');
    await store.close();
    await stopRedis(redis);
    rmSync(dir, { recursive: true, force: true });
  });

  it('is up, then down within the timeout while Redis is stopped (one PING in flight), then up again', async () => {
    expect(await store.health({ timeoutMs: 1_000 })).toMatchObject({ status: 'up', connection: 'ready' });

    redis.kill('SIGSTOP');
    const ping = jest.spyOn(
      (store as unknown as { connections: RedisConnections }).connections.client,
      'ping',
    );
    try {
      const started = Date.now();
      const [first, second] = await Promise.all([
        store.health({ timeoutMs: 300 }),
        store.health({ timeoutMs: 300 }),
      ]);
      const elapsed = Date.now() - started;
      expect(first).toEqual({
        status: 'down',
        message: 'no answer to PING within 300 ms',
        connection: 'ready', // the socket is open: only a timeout can tell
        subscriber: 'ready',
        failedLeaseRenewals: 0,
      });
      expect(second).toEqual(first);
      expect(elapsed).toBeGreaterThanOrEqual(290);
      expect(elapsed).toBeLessThan(1_000);
      expect(await store.health({ timeoutMs: 100 })).toMatchObject({ status: 'down' });
      expect(ping).toHaveBeenCalledTimes(1); // the hung PING is shared, not repeated
    } finally {
      redis.kill('SIGCONT');
      ping.mockRestore();
    }
    expect(await store.health({ timeoutMs: 1_000 })).toMatchObject({ status: 'up' });
  });

  it('is down at once when the store is closed', async () => {
    const closed = new RedisTaskStore(testStoreLimits(), { url: 'redis://127.0.0.1:1' });
    await closed.close();
    expect(await closed.health({ timeoutMs: 1_000 })).toMatchObject({
      status: 'down',
      message: 'the store is closed',
    });
  });
});
