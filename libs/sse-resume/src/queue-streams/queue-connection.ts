import type { Cluster, Redis } from 'ioredis';
import type { QueueConnectionSettings } from '../interfaces/durable-options.interface';

/** Connections of a bridge: commands, and one per queue for its blocking XREAD. */
export type QueueRedis = Redis | Cluster;

export type IoredisModule = Pick<typeof import('ioredis'), 'Redis' | 'Cluster'>;

/**
 * A new ioredis connection (or cluster) from the `queueStreams.connection` settings; with
 * neither `url` nor `nodes`, BullMQ's default 127.0.0.1:6379. `blocking`: no per-command
 * retry limit (a blocked XREAD must not be failed by ioredis' retries).
 */
export function createQueueRedis(
  ioredis: IoredisModule,
  settings: QueueConnectionSettings,
  { blocking = false, name }: { blocking?: boolean; name?: string } = {},
): QueueRedis {
  const options = {
    ...(settings.options ?? {}),
    ...(name !== undefined && { connectionName: name }),
    ...(blocking && { maxRetriesPerRequest: null }),
  };
  if (settings.nodes !== undefined && settings.nodes.length > 0) {
    const nodes = settings.nodes.map((node) => {
      const at = node.lastIndexOf(':');
      return { host: node.slice(0, at), port: Number(node.slice(at + 1)) };
    });
    return new ioredis.Cluster(nodes, { redisOptions: options });
  }
  return settings.url === undefined
    ? new ioredis.Redis({ host: '127.0.0.1', port: 6379, ...options })
    : new ioredis.Redis(settings.url, options);
}
