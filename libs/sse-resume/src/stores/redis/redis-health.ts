import type { StoreHealth, StoreHealthOptions } from '../../interfaces/store-health.interface';
import type { RedisConnections } from './redis-connections';
import { errorMessage } from './redis-errors';
import type { RedisLeases } from './redis-leases';

/**
 * Lease renewal rounds in a row that may fail before the store reports `down`: leases are
 * renewed every third of `leaseMs`, so after two misses one more lets them lapse, and the
 * other instances' reapers fail this instance's tasks.
 */
export const MAX_FAILED_RENEWALS = 1;

/**
 * The Redis store's health: a `PING` round trip within the timeout (one in flight at a
 * time, so that checks against a hung Redis do not pile pings up), the states of both
 * connections, and the lease renewals that failed in a row.
 */
export class RedisHealth {
  private inFlight: Promise<number> | undefined;

  constructor(
    private readonly connections: RedisConnections,
    private readonly leases: RedisLeases,
  ) {}

  async check({ timeoutMs }: StoreHealthOptions): Promise<StoreHealth> {
    if (this.connections.closed) return this.down('the store is closed');
    const { client, pubsub } = this.connections;
    if (client.status !== 'ready') return this.down(`the Redis connection is ${client.status}`);
    let latencyMs: number;
    try {
      latencyMs = await this.ping(timeoutMs);
    } catch (err) {
      return this.down(errorMessage(err));
    }
    if (pubsub.status !== 'ready') {
      return { ...this.down(`the Redis subscriber connection is ${pubsub.status}`), latencyMs };
    }
    const failed = this.leases.failedRenewals;
    if (failed > MAX_FAILED_RENEWALS) {
      const message = `the last ${failed} lease renewals failed: the tasks this instance runs may be failed as orphans`;
      return { ...this.down(message), latencyMs };
    }
    return { status: 'up', latencyMs, ...this.details() };
  }

  private down(message: string): StoreHealth {
    return { status: 'down', message, ...this.details() };
  }

  private details(): Record<string, string | number> {
    return {
      connection: this.connections.client.status,
      subscriber: this.connections.pubsub.status,
      failedLeaseRenewals: this.leases.failedRenewals,
    };
  }

  /** Ms of a PING round trip (sharing the one in flight), rejecting past `timeoutMs`. */
  private ping(timeoutMs: number): Promise<number> {
    this.inFlight ??= (async () => {
      const started = performance.now();
      try {
        await this.connections.client.ping();
        return Math.round((performance.now() - started) * 100) / 100;
      } finally {
        this.inFlight = undefined;
      }
    })();
    const answer = this.inFlight;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no answer to PING within ${timeoutMs} ms`)),
        timeoutMs,
      );
      answer.then(
        (ms) => {
          clearTimeout(timer);
          resolve(ms);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }
}
