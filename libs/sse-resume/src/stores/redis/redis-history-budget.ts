import type { RedisConnections } from './redis-connections';
import type { RedisKeyspace } from './redis-keyspace';
import { SCRIPTS } from './redis-scripts';

/** Finished tasks forgotten per script call: bounded, so one call never holds Redis for long. */
const FORGET_BATCH = 1000;
/** Calls per eviction run at most; what is left waits for the next run. */
const MAX_BATCHES = 10;

/**
 * Keeps the per-prefix history counter true once finished tasks expire: their keys vanish
 * by PEXPIRE, which tells nobody, so this forgets the expired ones and subtracts their bytes
 * (see `globals` in redis-lua-parts.ts; CREATE does the same before it admits).
 */
export class RedisHistoryBudget {
  constructor(
    private readonly connections: RedisConnections,
    private readonly keyspace: RedisKeyspace,
  ) {}

  /** Forgets finished tasks whose TTL has passed (by Redis's clock), bucket by bucket; returns how many. */
  async forgetExpired(): Promise<number> {
    return this.connections.call(async () => {
      let forgotten = 0;
      for (const keys of this.keyspace.buckets) {
        for (let batch = 0; batch < MAX_BATCHES; batch++) {
          const count = Number(
            await this.connections.eval(SCRIPTS.expireFinished, keys.globalKeys(), [FORGET_BATCH]),
          );
          forgotten += count;
          if (count < FORGET_BATCH) break;
        }
      }
      return forgotten;
    });
  }
}
