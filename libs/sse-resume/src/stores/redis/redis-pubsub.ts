import { Redis, type Cluster, type RedisOptions } from 'ioredis';

/** What the live events need from pub/sub, on one Redis node or on a Cluster. */
export interface RedisPubSub {
  /** `ready` when every subscriber connection it has is ready, else the state of one that is not. */
  readonly status: string;
  connect(): Promise<void>;
  /**
   * Channels kept for the store's life (the control channels): subscribed now and again
   * after every reconnect, before `onRestored` runs.
   */
  keep(channels: readonly string[]): void;
  subscribe(channel: string): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  onMessage(handler: (channel: string, message: string) => void): void;
  /**
   * A subscriber connection dropped: messages on these channels may have been lost, and
   * they are no longer subscribed (kept channels are subscribed again, then `onRestored`).
   */
  onLost(handler: (channels: readonly string[]) => void): void;
  /** Kept channels were subscribed again after a connection dropped (notices may have been missed). */
  onRestored(handler: () => void): void;
  close(): Promise<void>;
}

/** The listeners of both kinds of pub/sub, and telling them. */
export abstract class PubSubListeners {
  private readonly messageListeners: ((channel: string, message: string) => void)[] = [];
  private readonly lostListeners: ((channels: readonly string[]) => void)[] = [];
  private readonly restoredListeners: (() => void)[] = [];

  onMessage(handler: (channel: string, message: string) => void): void {
    this.messageListeners.push(handler);
  }

  onLost(handler: (channels: readonly string[]) => void): void {
    this.lostListeners.push(handler);
  }

  onRestored(handler: () => void): void {
    this.restoredListeners.push(handler);
  }

  protected message(channel: string, message: string): void {
    for (const handler of this.messageListeners) handler(channel, message);
  }

  protected lost(channels: readonly string[]): void {
    for (const handler of this.lostListeners) handler(channels);
  }

  protected restored(): void {
    for (const handler of this.restoredListeners) handler();
  }
}

/**
 * One node: one subscriber connection (a duplicate of the command client) with classic
 * SUBSCRIBE. It reconnects by itself but never resubscribes on its own: a live channel's
 * messages published while it was away are lost, so its watchers are told instead.
 */
export class SingleNodePubSub extends PubSubListeners implements RedisPubSub {
  private readonly redis: Redis;
  private readonly kept = new Set<string>();
  private readonly channels = new Set<string>();
  private readyBefore = false;

  constructor(client: Redis, options: RedisOptions, onError: (err: unknown) => void) {
    super();
    this.redis = client.duplicate({ ...options, autoResubscribe: false, lazyConnect: true });
    this.redis.on('error', onError);
    this.redis.on('message', (channel: string, message: string) => {
      this.message(channel, message);
    });
    this.redis.on('close', () => {
      const lost = [...this.channels];
      this.channels.clear();
      this.lost(lost);
    });
    this.redis.on('ready', () => {
      const restored = this.readyBefore;
      this.readyBefore = true;
      if (this.kept.size === 0) return;
      this.redis
        .subscribe(...this.kept)
        .then(() => {
          if (restored) this.restored();
        })
        .catch(onError);
    });
  }

  get status(): string {
    return this.redis.status;
  }

  connect(): Promise<void> {
    if (this.redis.status === 'wait') return this.redis.connect();
    if (this.redis.status === 'ready') return Promise.resolve();
    return new Promise((resolve) => this.redis.once('ready', () => resolve()));
  }

  keep(channels: readonly string[]): void {
    for (const channel of channels) this.kept.add(channel);
  }

  async subscribe(channel: string): Promise<void> {
    await this.redis.subscribe(channel);
    this.channels.add(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.channels.delete(channel);
    await this.redis.unsubscribe(channel);
  }

  close(): Promise<void> {
    return closeConnection(this.redis);
  }
}

/** QUIT when connected (the server closes, no timer is left behind), else drop the socket. */
export async function closeConnection(redis: Redis | Cluster): Promise<void> {
  if (redis.status === 'ready') {
    try {
      await Promise.race([
        redis.quit(),
        new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 1_000).unref()),
      ]);
      return;
    } catch {
      // fall through
    }
  }
  redis.disconnect();
}
