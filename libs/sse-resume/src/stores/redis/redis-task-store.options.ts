import type { Cluster, Redis } from 'ioredis';
import type { RedisStoreSettings } from '../../interfaces/redis-store-settings.interface';

/** Options of the Redis store: the module's `redis` settings, with `client` typed as ioredis's. */
export interface RedisTaskStoreOptions extends Omit<RedisStoreSettings, 'client'> {
  /**
   * An ioredis client to use, `Redis` (one node) or `Cluster`; the store opens its
   * subscriber connections next to it and never closes it.
   */
  client?: Redis | Cluster;
}
