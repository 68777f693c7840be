import type { ConnectionOptions } from 'bullmq';
import type { QueueConnectionSettings } from '../interfaces/durable-options.interface';
import type { RedisClusterNode, RedisStoreSettings } from '../interfaces/redis-store-settings.interface';

/** Where BullMQ connects, and how to close what was opened for it. */
export interface QueueConnection {
  /** For `new Queue/Worker/QueueEvents(name, { connection })`. */
  connection: ConnectionOptions;
  /** Closes a client made for BullMQ (a Cluster, a duplicate); nothing for plain options. */
  close(): Promise<void>;
}

/** A client we can duplicate (ioredis `Redis`), as the Redis store's `client` setting may be. */
interface Duplicable {
  duplicate(override?: object): { quit(): Promise<unknown>; disconnect(): void };
}

/**
 * BullMQ's connection from `durable.connection` (or `queueStreams.connection`), else from
 * the Redis store's settings: a URL becomes ioredis options (BullMQ opens its own
 * connections from them, blocking ones with `maxRetriesPerRequest: null`), Cluster nodes a
 * `Cluster` client, a store's own client a duplicate.
 */
export async function createQueueConnection(
  settings: QueueConnectionSettings | undefined,
  store: RedisStoreSettings | undefined,
): Promise<QueueConnection> {
  const extra = settings?.options ?? {};
  const nodes = settings ? settings.nodes : store?.nodes;
  const url = settings ? settings.url : store?.url;
  if (nodes !== undefined && nodes.length > 0) {
    const { Cluster } = await import('ioredis');
    const cluster = new Cluster(nodes.map(clusterNode), {
      ...(settings ? {} : store?.clusterOptions),
      redisOptions: { ...extra, maxRetriesPerRequest: null },
    });
    return { connection: cluster as ConnectionOptions, close: () => quit(cluster) };
  }
  const client = settings ? undefined : (store?.client as Partial<Duplicable> | undefined);
  if (url === undefined && typeof client?.duplicate === 'function') {
    const copy = client.duplicate({ maxRetriesPerRequest: null });
    return { connection: copy as ConnectionOptions, close: () => quit(copy) };
  }
  return {
    connection: { ...urlOptions(url ?? 'redis://127.0.0.1:6379'), ...extra } as ConnectionOptions,
    close: () => Promise.resolve(),
  };
}

/** ioredis options of a `redis://` or `rediss://` URL. */
export function urlOptions(url: string): Record<string, unknown> {
  const parsed = new URL(url);
  const db = parsed.pathname.replace(/^\//, '');
  return {
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 6379,
    ...(parsed.username && { username: decodeURIComponent(parsed.username) }),
    ...(parsed.password && { password: decodeURIComponent(parsed.password) }),
    ...(db && { db: Number(db) }),
    ...(parsed.protocol === 'rediss:' && { tls: {} }),
  };
}

function clusterNode(node: RedisClusterNode | string): { host: string; port: number } {
  if (typeof node !== 'string') return node;
  const at = node.lastIndexOf(':');
  return { host: node.slice(0, at), port: Number(node.slice(at + 1)) };
}

async function quit(client: { quit(): Promise<unknown>; disconnect(): void }): Promise<void> {
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}
