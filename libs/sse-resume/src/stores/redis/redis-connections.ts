import { Logger } from '@nestjs/common';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { StoreUnavailableError } from '../../errors';
import type { TaskStoreLimits } from '../../interfaces/task-store.interface';
import { errorMessage, translateRedisError } from './redis-errors';
import { isNoScript, type Script } from './redis-scripts';
import type { RedisTaskStoreOptions } from './redis-task-store.options';
import { LOGGER_NAME } from '../../sse-resume.messages';
import { logRecord } from '../../log-record';
import { closeConnection, SingleNodePubSub, type RedisPubSub } from './redis-pubsub';
import { ShardedPubSub } from './redis-sharded-pubsub';

type Pipeline = ReturnType<Redis['pipeline']>;

/** A command client: one node, or a Cluster (which routes each command by its key's slot). */
export type RedisClient = Redis | Cluster;

/**
 * Holds the store's Redis connections (commands, and pub/sub, which a subscribed connection
 * cannot mix: one duplicate on one node, one per primary on a Cluster) and runs every
 * command through {@link call}, so that a failure reaches callers as a typed error and a
 * closed store refuses at once.
 */
export class RedisConnections {
  readonly client: RedisClient;
  readonly pubsub: RedisPubSub;
  /** A Redis Cluster: sharded pub/sub, and every multi-key command kept within one slot. */
  readonly cluster: boolean;
  private readonly ownsClient: boolean;
  private readonly logger = new Logger(LOGGER_NAME);
  private lastErrorLog = 0;
  private closedFlag = false;

  constructor(
    options: RedisTaskStoreOptions,
    private readonly limits: TaskStoreLimits,
  ) {
    // Fail fast while Redis is away (503 to the client) instead of queueing commands.
    const connection: RedisOptions = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (times) => Math.min(100 * times, 2_000),
    };
    if (options.client) {
      this.client = options.client;
      this.ownsClient = false;
    } else if (options.nodes?.length) {
      this.client = new Cluster(
        options.nodes.map(clusterNode),
        clusterOptions(options.clusterOptions, connection),
      );
      this.ownsClient = true;
    } else {
      this.client = new Redis(options.url ?? 'redis://127.0.0.1:6379', { ...connection, lazyConnect: true });
      this.ownsClient = true;
    }
    this.cluster =
      this.client instanceof Cluster || (this.client as { isCluster?: boolean }).isCluster === true;
    const onSubscriberError = (err: unknown) => this.logError('subscriber', err);
    // No auto-resubscribe: messages published while it was away are lost, so the live
    // events end their streams instead of carrying on with a hole (redis-live-events.ts).
    this.pubsub = this.cluster
      ? new ShardedPubSub(
          this.client as Cluster,
          { ...subscriberOptions(this.client as Cluster), ...connection },
          onSubscriberError,
        )
      : new SingleNodePubSub(this.client as Redis, connection, onSubscriberError);
    this.client.on('error', (err: Error) => this.logError('command', err));
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Connects both; past `timeoutMs` the app starts anyway and requests get 503 until Redis answers. */
  async connect(timeoutMs: number): Promise<void> {
    const connect = async (redis: RedisClient) => {
      if (redis.status === 'wait') await redis.connect();
      else if (redis.status !== 'ready') await onceReady(redis);
    };
    try {
      await withTimeout(
        connect(this.client).then(() => this.pubsub.connect()),
        timeoutMs,
      );
    } catch (err) {
      this.logger.warn(
        logRecord('Redis is not reachable yet; requests get 503 until it is, the store keeps retrying', {
          error: errorMessage(err),
        }),
      );
    }
  }

  /** Runs a Redis operation, turning script errors into typed errors and the rest into 503. */
  async call<T>(operation: () => Promise<T>, taskId = '(unknown)'): Promise<T> {
    if (this.closedFlag) throw new StoreUnavailableError('the store is closed');
    try {
      return await operation();
    } catch (err) {
      throw translateRedisError(err, taskId, this.limits);
    }
  }

  /** EVALSHA, sending the script's text only when Redis does not have it (after a restart). */
  async eval(script: Script, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await this.client.evalsha(script.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!isNoScript(err)) throw err;
      return this.client.eval(script.lua, keys.length, ...keys, ...args);
    }
  }

  /** Publishes a live message: SPUBLISH on a Cluster (to the channel's shard), else PUBLISH. */
  async publish(channel: string, message: string): Promise<void> {
    if (this.cluster) await this.client.spublish(channel, message);
    else await this.client.publish(channel, message);
  }

  /** Loads a script (on a Cluster, on every primary: each node has its own script cache). */
  async loadScript(script: Script): Promise<void> {
    if (this.client instanceof Cluster) {
      await Promise.all(this.client.nodes('master').map((node) => node.script('LOAD', script.lua)));
    } else {
      await this.client.script('LOAD', script.lua);
    }
  }

  /** One round trip of commands (a MULTI transaction if `atomic`); throws the first command error. */
  async pipelined<T extends unknown[]>(build: (pipeline: Pipeline) => Pipeline, atomic = false): Promise<T> {
    const results = (await build(atomic ? this.client.multi() : this.client.pipeline()).exec()) ?? [];
    return results.map(([err, value]) => {
      if (err) throw err;
      return value;
    }) as T;
  }

  /** Redis's clock in epoch ms: the one clock every instance agrees on. */
  async serverTime(): Promise<number> {
    const [seconds, micros] = await this.client.time();
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  }

  /** Waits up to `ms` for the command connection to be ready again (if it is ready, just pauses `ms`). */
  waitForCommands(ms: number): Promise<void> {
    return waitUntilReady(this.client, ms);
  }

  /** Logs a connection problem at most every 5 s: an outage must not flood the log. */
  logError(connection: 'command' | 'subscriber', err: unknown): void {
    const now = Date.now();
    if (now - this.lastErrorLog < 5_000 || this.closedFlag) return;
    this.lastErrorLog = now;
    this.logger.error(logRecord(`Redis ${connection} connection failed`, { error: errorMessage(err) }));
  }

  /** Closes the subscribers, and the command connection unless the application gave it. */
  async close(): Promise<void> {
    this.closedFlag = true;
    await Promise.all([this.pubsub.close(), this.ownsClient && closeConnection(this.client)]);
  }
}

function clusterNode(node: string | { host: string; port: number }): { host: string; port: number } {
  if (typeof node !== 'string') return node;
  const colon = node.lastIndexOf(':');
  const port = Number(node.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port <= 0 || port > 65_535) {
    throw new RangeError(`a Redis Cluster node must be "host:port", got "${node}"`);
  }
  return { host: node.slice(0, colon), port };
}

/** The application's Cluster options, with the store's fail-fast settings on top. */
function clusterOptions(given: object | undefined, connection: RedisOptions): ClusterOptions {
  const options = (given ?? {}) as ClusterOptions;
  return {
    ...options,
    lazyConnect: true,
    enableOfflineQueue: false,
    // A failover: commands fail fast (the store retries writes itself, reads answer 503).
    retryDelayOnFailover: options.retryDelayOnFailover ?? 100,
    clusterRetryStrategy: options.clusterRetryStrategy ?? ((times) => Math.min(100 * times, 2_000)),
    redisOptions: { ...options.redisOptions, ...connection },
  };
}

/** The node options (password, TLS...) the Cluster client uses, for the subscriber connections. */
function subscriberOptions(cluster: Cluster): RedisOptions {
  return { ...(cluster.options.redisOptions ?? {}) };
}

/** Resolves once `redis` becomes ready, or after `ms`; a ready connection waits the whole `ms` (a retry's pause). */
function waitUntilReady(redis: RedisClient, ms: number): Promise<void> {
  if (redis.status === 'ready') return new Promise((resolve) => setTimeout(resolve, ms));
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    redis.once('ready', done);
  });
}

function onceReady(redis: RedisClient): Promise<void> {
  return new Promise((resolve) => redis.once('ready', () => resolve()));
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
