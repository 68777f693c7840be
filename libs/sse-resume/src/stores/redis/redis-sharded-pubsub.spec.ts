import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Cluster, type Redis } from 'ioredis';
import { waitForMs } from '../../testing/async';
import { uniquePrefix } from '../../testing/redis';
import { startRedisCluster, type RedisClusterHandle } from '../../testing/redis-cluster';
import { keySlot } from './redis-keyspace';
import { ShardedPubSub, subscribedShardChannels } from './redis-sharded-pubsub';

const noError = () => undefined;

describe('subscribedShardChannels', () => {
  it("reads ioredis's record of sharded channels; none after the last went; undefined when it cannot be read", () => {
    const record = { channels: (kind: string) => (kind === 'ssubscribe' ? ['a', 'b'] : ['x']) };
    const redis = (subscriber: unknown) => ({ condition: { subscriber } }) as unknown as Redis;
    expect(subscribedShardChannels(redis(record))).toEqual(new Set(['a', 'b']));
    expect(subscribedShardChannels(redis(false))).toEqual(new Set());
    expect(subscribedShardChannels({} as Redis)).toBeUndefined();
    expect(subscribedShardChannels(redis({}))).toBeUndefined();
  });
});

describe('ShardedPubSub (a real Redis Cluster)', () => {
  let cluster: RedisClusterHandle;
  let client: Cluster;
  beforeAll(async () => {
    cluster = await startRedisCluster();
    client = new Cluster(cluster.seeds.split(','), { redisOptions: { disconnectTimeout: 200 } });
    client.on('error', noError);
    await client.ping();
  }, 60_000);
  afterAll(async () => {
    client?.disconnect();
    await cluster?.stop();
  });

  /** Channels on three different shards (slots in each third). */
  function channelsOnEveryShard(prefix: string): string[] {
    const found: string[] = [];
    for (let i = 0; found.length < 3; i++) {
      const channel = `${prefix}{c${i}}:live`;
      if (Math.floor(keySlot(channel) / 5462) === found.length) found.push(channel);
    }
    return found;
  }

  it('one connection per primary, whatever the number of channels; SPUBLISH reaches it', async () => {
    const pubsub = new ShardedPubSub(client, {}, noError);
    const messages: string[] = [];
    pubsub.onMessage((channel, message) => messages.push(`${channel}=${message}`));
    await pubsub.connect();
    const channels = [...channelsOnEveryShard(uniquePrefix('a')), ...channelsOnEveryShard(uniquePrefix('b'))];
    for (const channel of channels) await pubsub.subscribe(channel);
    expect((pubsub as unknown as { shards: Map<string, unknown> }).shards.size).toBe(3);
    for (const channel of channels) await client.spublish(channel, 'x');
    await waitForMs(() => messages.length === channels.length, 'every message');
    await pubsub.unsubscribe(channels[0]!);
    await client.spublish(channels[0]!, 'y');
    await client.spublish(channels[1]!, 'z');
    await waitForMs(() => messages.length === channels.length + 1, 'one more');
    expect(messages.at(-1)).toBe(`${channels[1]}=z`);
    await pubsub.close();
  });

  /** Keeps `kept`, records what the pub/sub reports, connects and subscribes `channels`. */
  async function watched(pubsub: ShardedPubSub, kept: string, channels: string[]) {
    const seen = { lost: [] as string[][], messages: [] as string[], restored: 0 };
    pubsub.keep([kept]);
    pubsub.onLost((lost) => seen.lost.push([...lost]));
    pubsub.onRestored(() => seen.restored++);
    pubsub.onMessage((channel, message) => seen.messages.push(`${channel}=${message}`));
    await pubsub.connect();
    for (const channel of channels) await pubsub.subscribe(channel);
    return seen;
  }

  it('a killed primary: its channels are reported lost, kept ones come back on the promoted replica', async () => {
    const pubsub = new ShardedPubSub(client, { disconnectTimeout: 200 }, noError);
    const [victim, survivor] = channelsOnEveryShard(uniquePrefix('k'));
    const kept = `${uniquePrefix('kept')}{${victim!.slice(victim!.indexOf('{') + 1, victim!.indexOf('}'))}}:control`;
    expect(keySlot(kept)).toBe(keySlot(victim!));
    const seen = await watched(pubsub, kept, [victim!, survivor!]);
    const { lost, messages } = seen;

    await cluster.killPrimaryForKey(victim!);
    await waitForMs(() => lost.length === 1, 'lost', 5_000);
    expect(lost[0]).toEqual([victim]);
    await cluster.waitForFailover(victim!);
    await waitForMs(() => seen.restored >= 1, 'restored after the failover', 15_000);
    // The kept channel listens on the new primary; the other shard never noticed.
    await waitForMs(() => pubsub.status === 'ready', 'ready', 5_000);
    await client.spublish(kept, 'after');
    await client.spublish(survivor!, 'still');
    await waitForMs(() => messages.length === 2, 'both', 5_000);
    expect(messages.sort()).toEqual([`${kept}=after`, `${survivor}=still`].sort());
    await pubsub.close();
  }, 60_000);

  it('a slot moved away (resharding): its channels are reported lost, kept ones follow it, others stay', async () => {
    const pubsub = new ShardedPubSub(client, { disconnectTimeout: 200 }, noError);
    const prefix = uniquePrefix('m');
    const [moved] = channelsOnEveryShard(prefix);
    const tag = moved!.slice(moved!.indexOf('{') + 1, moved!.indexOf('}'));
    const kept = `${uniquePrefix('kept')}{${tag}}:control`;
    // Another channel on the same primary, in another slot: it is not moved.
    const stays = Array.from({ length: 200 }, (_, i) => `${prefix}{s${i}}:live`).find(
      (channel) => keySlot(channel) !== keySlot(moved!) && Math.floor(keySlot(channel) / 5462) === 0,
    )!;
    const seen = await watched(pubsub, kept, [moved!, stays]);
    const { lost, messages } = seen;

    const migrated = await cluster.migrateSlotOf(moved!);
    expect(migrated.slot).toBe(keySlot(kept));
    await waitForMs(() => lost.length === 1, 'lost', 5_000);
    expect(lost[0]).toEqual([moved]);
    await waitForMs(() => seen.restored >= 1, 'restored on the new owner', 10_000);
    await client.spublish(kept, 'after');
    await client.spublish(stays, 'still');
    await waitForMs(() => messages.length === 2, 'both', 5_000);
    expect(messages.sort()).toEqual([`${kept}=after`, `${stays}=still`].sort());
    // Subscribing the moved channel again goes to its new owner.
    await pubsub.subscribe(moved!);
    await client.spublish(moved!, 'again');
    await waitForMs(() => messages.length === 3, 'on the new owner', 5_000);
    await pubsub.close();
  }, 60_000);
});
