import type { QueueConnectionSettings, QueueStreamsOptions } from '../interfaces/durable-options.interface';
import type { RedisStoreSettings } from '../interfaces/redis-store-settings.interface';

/** BullMQ's own default key prefix. */
export const DEFAULT_QUEUE_PREFIX = 'bull';
/** Shortest `queueStreams.secret`: 256 bits of base64/hex text at least. */
export const MIN_SECRET_CHARS = 32;
/** Injection token of the {@link ResolvedQueueStreamsOptions} (`undefined` when the option is not set). */
export const QUEUE_STREAMS_OPTIONS = Symbol('QUEUE_STREAMS_OPTIONS');

/** `queueStreams` checked, with its defaults, and the connection settled. */
export interface ResolvedQueueStreamsOptions {
  queues: string[];
  prefix: string;
  secret: string;
  /** Exactly one of `url` / `nodes` (neither: BullMQ's default, 127.0.0.1:6379). */
  connection: QueueConnectionSettings;
}

const PREFIX = 'SseResumeModule: option queueStreams';

/** Boot-time messages of `queueStreams`, each naming the bad field. */
export const queueStreamsMessages = {
  notAnObject: `${PREFIX} must be an object { queues, secret, connection?, prefix? }`,
  queues: `${PREFIX}.queues must be a non-empty array of distinct non-empty queue names without ':'`,
  secret: `${PREFIX}.secret must be a string of at least ${MIN_SECRET_CHARS} characters (resume keys are derived from it)`,
  prefix: `${PREFIX}.prefix must be a non-empty string`,
  connection: `${PREFIX}.connection must be an object { url?, nodes?, options? } with url a string and nodes an array of 'host:port' strings`,
  noAppendOnce: `${PREFIX} needs a TaskStore with appendOnce (the memory and Redis stores have it)`,
};

/**
 * Checks `queueStreams` and fills in its defaults; `undefined` when not configured. The
 * connection defaults to the Redis store's (`redis.url` or `redis.nodes`, `redis.client`).
 */
export function resolveQueueStreamsOptions(
  given: QueueStreamsOptions | undefined,
  redis?: RedisStoreSettings,
): ResolvedQueueStreamsOptions | undefined {
  if (given === undefined) return undefined;
  if (typeof given !== 'object' || given === null) throw new Error(queueStreamsMessages.notAnObject);
  const { queues, secret, prefix = DEFAULT_QUEUE_PREFIX, connection } = given;
  if (
    !Array.isArray(queues) ||
    queues.length === 0 ||
    !queues.every((q) => typeof q === 'string' && q.length > 0 && !q.includes(':')) ||
    new Set(queues).size !== queues.length
  ) {
    throw new Error(queueStreamsMessages.queues);
  }
  if (typeof secret !== 'string' || secret.length < MIN_SECRET_CHARS)
    throw new Error(queueStreamsMessages.secret);
  if (typeof prefix !== 'string' || prefix.length === 0) throw new Error(queueStreamsMessages.prefix);
  return {
    queues: [...queues],
    prefix,
    secret,
    connection: connection === undefined ? fromRedisStore(redis) : checkConnection(connection),
  };
}

function checkConnection(connection: unknown): QueueConnectionSettings {
  if (typeof connection !== 'object' || connection === null) throw new Error(queueStreamsMessages.connection);
  const { url, nodes, options } = connection as QueueConnectionSettings;
  const badUrl = url !== undefined && typeof url !== 'string';
  const badNodes =
    nodes !== undefined && (!Array.isArray(nodes) || !nodes.every((n) => typeof n === 'string'));
  const badOptions = options !== undefined && (typeof options !== 'object' || options === null);
  if (badUrl || badNodes || badOptions || (url !== undefined && nodes !== undefined)) {
    throw new Error(queueStreamsMessages.connection);
  }
  return { url, nodes: nodes && [...nodes], options: options && { ...options } };
}

function fromRedisStore(redis: RedisStoreSettings | undefined): QueueConnectionSettings {
  if (redis === undefined) return {};
  const options = redis.client as Record<string, unknown> | undefined;
  if (redis.nodes !== undefined) {
    const nodes = redis.nodes.map((node) => (typeof node === 'string' ? node : `${node.host}:${node.port}`));
    return { nodes, options };
  }
  return { url: redis.url, options };
}
