import type { ConnectionOptions } from 'bullmq';
import { envOf } from './shared';

/** BullMQ connection options from `REDIS_URL` (`maxRetriesPerRequest: null`, as BullMQ's workers need). */
export function bullConnection(): ConnectionOptions {
  return { url: envOf('REDIS_URL'), maxRetriesPerRequest: null };
}
