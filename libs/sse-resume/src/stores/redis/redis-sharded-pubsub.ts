import { Redis, type Cluster, type RedisOptions } from 'ioredis';
import { keySlot } from './redis-keyspace';
import { closeConnection, PubSubListeners, type RedisPubSub } from './redis-pubsub';

interface ShardConnection {
  readonly redis: Redis;
  readonly channels: Set<string>;
  ready: Promise<void>;
}

/** How long to wait before subscribing kept channels again after their shard's connection dropped. */
const RESUBSCRIBE_DELAY_MS = 200;

/**
 * Redis Cluster: sharded pub/sub (SSUBSCRIBE, Redis >= 7), so that a task's live events
 * travel only within the shard that holds its slot. One subscriber connection per primary
 * that holds a subscribed channel, opened on demand from the Cluster client's slot map;
 * never reconnected: when a primary fails its connection's channels are reported lost, and
 * the next subscribe finds the slot's new primary (after a slot-map refresh on MOVED). When
 * a slot moves away (resharding) the node unsubscribes its channels: they are handled alike.
 */
export class ShardedPubSub extends PubSubListeners implements RedisPubSub {
  private readonly kept = new Set<string>();
  private readonly shards = new Map<string, ShardConnection>();
  private readonly channelShard = new Map<string, ShardConnection>();
  private closed = false;
  private resubscribeTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly cluster: Cluster,
    private readonly options: RedisOptions,
    private readonly onError: (err: unknown) => void,
  ) {
    super();
  }

  get status(): string {
    if (this.closed) return 'end';
    for (const shard of this.shards.values()) if (shard.redis.status !== 'ready') return shard.redis.status;
    return this.cluster.status === 'ready' ? 'ready' : this.cluster.status;
  }

  async connect(): Promise<void> {
    if (this.cluster.status === 'wait') await this.cluster.connect();
    else if (this.cluster.status !== 'ready') {
      await new Promise<void>((resolve) => this.cluster.once('ready', () => resolve()));
    }
    await this.subscribeKept();
  }

  keep(channels: readonly string[]): void {
    for (const channel of channels) this.kept.add(channel);
  }

  async subscribe(channel: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const shard = await this.shardFor(channel);
      try {
        await shard.redis.ssubscribe(channel);
        shard.channels.add(channel);
        this.channelShard.set(channel, shard);
        return;
      } catch (err) {
        // The slot moved (a failover, a resharding): learn the new map and go there.
        if (
          attempt >= 3 ||
          !(err instanceof Error) ||
          !/MOVED|CLUSTERDOWN|Connection|closed/i.test(err.message)
        ) {
          throw err;
        }
        await this.refreshSlots();
      }
    }
  }

  async unsubscribe(channel: string): Promise<void> {
    const shard = this.channelShard.get(channel);
    if (!shard) return;
    this.channelShard.delete(channel);
    shard.channels.delete(channel);
    await shard.redis.sunsubscribe(channel);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.resubscribeTimer);
    await Promise.all([...this.shards.values()].map((shard) => closeConnection(shard.redis)));
    this.shards.clear();
    this.channelShard.clear();
  }

  /** The connection to the primary that holds the channel's slot (opened if needed). */
  private async shardFor(channel: string): Promise<ShardConnection> {
    if (this.closed) throw new Error('the store is closed');
    const nodeKey = this.cluster.slots[keySlot(channel)]?.[0];
    if (!nodeKey) {
      await this.refreshSlots();
      const again = this.cluster.slots[keySlot(channel)]?.[0];
      if (!again) throw new Error(`CLUSTERDOWN no primary is known for channel ${channel}`);
      return this.shardFor(channel);
    }
    let shard = this.shards.get(nodeKey);
    if (!shard) {
      shard = this.openShard(nodeKey);
      this.shards.set(nodeKey, shard);
    }
    await shard.ready;
    return shard;
  }

  private openShard(nodeKey: string): ShardConnection {
    const colon = nodeKey.lastIndexOf(':');
    const redis = new Redis({
      ...this.options,
      host: nodeKey.slice(0, colon),
      port: Number(nodeKey.slice(colon + 1)),
      autoResubscribe: false,
      lazyConnect: true,
      // Never reconnect: a dropped primary may be a replica by now.
      retryStrategy: () => null,
    });
    const shard: ShardConnection = { redis, channels: new Set(), ready: Promise.resolve() };
    shard.ready = redis.connect().catch((err: unknown) => {
      this.dropShard(nodeKey, shard);
      throw err;
    });
    redis.on('error', this.onError);
    redis.on('smessage', (channel: string, message: string) => {
      this.message(channel, message);
    });
    redis.on('close', () => this.dropShard(nodeKey, shard));
    // The node unsubscribed channels by itself: their slot moved to another primary (resharding).
    redis.on('moved', () => this.slotsMovedAway(nodeKey, shard));
    return shard;
  }

  /**
   * A primary gave up slots that have channels subscribed here (it sends SUNSUBSCRIBE for
   * them; ioredis tells 'moved' and has already forgotten them). Those channels are moved:
   * live ones reported lost (their watchers resume), kept ones subscribed again at the new
   * owner. When the connection cannot tell which channels it still has, it is dropped.
   */
  private slotsMovedAway(nodeKey: string, shard: ShardConnection): void {
    if (this.shards.get(nodeKey) !== shard || this.closed) return;
    const remaining = subscribedShardChannels(shard.redis);
    if (!remaining) {
      shard.redis.disconnect(); // 'close' drops it: every channel lost, kept ones subscribed again
      return;
    }
    const moved = [...shard.channels].filter((channel) => !remaining.has(channel));
    for (const channel of moved) {
      shard.channels.delete(channel);
      if (this.channelShard.get(channel) === shard) this.channelShard.delete(channel);
    }
    this.movedOrLost(moved);
  }

  /** A shard's connection ended: its channels' messages may be lost; kept ones are subscribed again elsewhere. */
  private dropShard(nodeKey: string, shard: ShardConnection): void {
    if (this.shards.get(nodeKey) !== shard) return;
    this.shards.delete(nodeKey);
    const lost = [...shard.channels];
    shard.channels.clear();
    for (const channel of lost)
      if (this.channelShard.get(channel) === shard) this.channelShard.delete(channel);
    shard.redis.disconnect();
    if (this.closed) return;
    this.movedOrLost(lost);
  }

  /** Channels no longer subscribed here: live ones are reported lost, kept ones subscribed again. */
  private movedOrLost(channels: readonly string[]): void {
    const live = channels.filter((channel) => !this.kept.has(channel));
    if (live.length > 0) this.lost(live);
    if (channels.some((channel) => this.kept.has(channel))) this.scheduleResubscribe();
  }

  private scheduleResubscribe(): void {
    if (this.resubscribeTimer || this.closed) return;
    this.resubscribeTimer = setTimeout(() => {
      this.resubscribeTimer = undefined;
      this.refreshSlots()
        .then(() => this.subscribeKept())
        .then(() => {
          this.restored();
        })
        .catch((err: unknown) => {
          this.onError(err);
          this.scheduleResubscribe();
        });
    }, RESUBSCRIBE_DELAY_MS);
    this.resubscribeTimer.unref();
  }

  /** Subscribes every kept channel that has no connection (all, at first). */
  private async subscribeKept(): Promise<void> {
    const missing = [...this.kept].filter((channel) => !this.channelShard.has(channel));
    await Promise.all(missing.map((channel) => this.subscribe(channel)));
  }

  private refreshSlots(): Promise<void> {
    return new Promise((resolve) => this.cluster.refreshSlotsCache(() => resolve()));
  }
}

/**
 * The sharded channels a connection is still subscribed to, from ioredis's own record (it
 * removes a channel when the server unsubscribes it); `undefined` if that record cannot be
 * read (another ioredis version), so that the caller falls back to dropping the connection.
 */
export function subscribedShardChannels(redis: Redis): Set<string> | undefined {
  const subscriber = (redis as unknown as { condition?: { subscriber?: unknown } }).condition?.subscriber;
  if (subscriber === false) return new Set(); // the last channel went: no longer in subscriber mode
  const channels = (subscriber as { channels?: (kind: string) => unknown } | undefined)?.channels;
  if (typeof channels !== 'function') return undefined;
  const list = channels.call(subscriber, 'ssubscribe');
  return Array.isArray(list) ? new Set(list.map(String)) : undefined;
}
