import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster } from 'ioredis';
import {
  type ClusterPrimary,
  keySlot,
  type RedisClusterHandle,
  startRedisCluster,
} from '@app/sse-resume/testing/redis-cluster';

/**
 * The Redis Cluster harness (libs/sse-resume/src/testing/redis-cluster.ts) that the Cluster store's tests and
 * the benchmark rely on: a real cluster of 3 primaries and 3 replicas, reached through
 * ioredis's `Cluster` as the store reaches it.
 */
const NODE_TIMEOUT_MS = 1_000;
/** Node timeout + election (0.5–1 s delay, then a vote) + gossip, with room for a slow CI machine. */
const FAILOVER_LIMIT_MS = 10_000;

/** A key whose slot `primary` serves: `prefix` plus the first counter that lands there. */
function keyOn(primary: ClusterPrimary, prefix: string): string {
  for (let i = 0; ; i++) {
    const slot = keySlot(`${prefix}${i}`);
    if (primary.slots.some(([first, last]) => first <= slot && slot <= last)) return `${prefix}${i}`;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('test utilities: a private Redis Cluster', () => {
  let cluster: RedisClusterHandle;
  let client: Cluster;
  let primaries: ClusterPrimary[];

  beforeAll(async () => {
    cluster = await startRedisCluster({ nodeTimeoutMs: NODE_TIMEOUT_MS });
    client = new Cluster(cluster.seeds.split(','), {
      shardedSubscribers: true,
      // A slots refresh that tried the killed primary leaves a connection that ioredis destroys
      // only after disconnectTimeout (default 2 s): long enough to hold Jest open at the end.
      redisOptions: { disconnectTimeout: 200 },
    });
    client.on('error', () => undefined); // a killed primary's connections; commands report what matters
    primaries = await cluster.primaries();
  }, 30_000);

  afterAll(async () => {
    client?.disconnect();
    await cluster?.stop();
  });

  it('runs 3 primaries with a replica each, serving all 16384 slots', () => {
    expect(cluster.nodes).toHaveLength(6);
    expect(cluster.seeds.split(',')).toEqual(cluster.nodes.map((node) => `127.0.0.1:${node.port}`));
    for (const node of cluster.nodes) {
      expect(node.port).toBeLessThan(55_535);
      expect(isAlive(node.pid)).toBe(true);
    }
    expect(primaries).toHaveLength(3);
    expect(primaries.every((primary) => primary.replicas.length === 1)).toBe(true);
    const served = primaries.flatMap((primary) => primary.slots).reduce((sum, [a, b]) => sum + b - a + 1, 0);
    expect(served).toBe(16_384);
  });

  it('computes key slots as CLUSTER KEYSLOT does, hash tags included', async () => {
    const keys = ['a', 'foo', 'sse:task:1', '{user1000}.following', 'x{}{tag}', 'tâche:é', 'a{b}c{d}'];
    const expected = await Promise.all(keys.map((key) => client.cluster('KEYSLOT', key)));
    expect(keys.map(keySlot)).toEqual(expected);
    expect(keySlot('{sse:b3}:events')).toBe(keySlot('{sse:b3}:meta'));
  });

  it('writes and reads keys on every primary through ioredis Cluster', async () => {
    for (const primary of primaries) {
      const key = keyOn(primary, 'harness:rw:');
      expect(await cluster.primaryForKey(key)).toMatchObject({ port: primary.port, pid: primary.pid });
      await client.set(key, `on ${primary.port}`);
      expect(await client.get(key)).toBe(`on ${primary.port}`);
    }
  });

  it('delivers SPUBLISH to SSUBSCRIBE on every shard', async () => {
    const subscriber = new Cluster(cluster.seeds.split(','), { shardedSubscribers: true });
    subscriber.on('error', () => undefined);
    try {
      const received: Array<[string, string]> = [];
      subscriber.on('smessage', (channel: string, message: string) => received.push([channel, message]));
      const channels = primaries.map((primary) => keyOn(primary, 'harness:channel:'));
      for (const channel of channels) await subscriber.ssubscribe(channel);
      for (const channel of channels) expect(await client.spublish(channel, `to ${channel}`)).toBe(1);
      for (let waited = 0; received.length < channels.length && waited < 2_000; waited += 20) await sleep(20);
      expect(received.sort()).toEqual(channels.map((channel) => [channel, `to ${channel}`]).sort());
    } finally {
      subscriber.disconnect();
    }
  });

  it('counts the commands run on the primaries', async () => {
    await cluster.resetStats();
    const keys = primaries.map((primary) => keyOn(primary, 'harness:stats:'));
    for (const key of keys) await client.incr(key);
    await client.spublish(keys[0]!, 'nobody listens');
    const stats = await cluster.commandStats();
    expect(stats.incr).toBe(3);
    expect(stats.spublish).toBe(1);
  });

  it('flushAll() empties every primary', async () => {
    const keys = primaries.map((primary) => keyOn(primary, 'harness:flush:'));
    for (const key of keys) await client.set(key, '1');
    await cluster.flushAll();
    const sizes = await Promise.all(client.nodes('master').map((node) => node.dbsize()));
    expect(sizes).toEqual([0, 0, 0]);
  });

  it('fails a killed primary over to its replica within a few seconds', async () => {
    const key = keyOn(primaries[0]!, 'harness:failover:');
    // WAIT in the same pipeline, so on the same connection: the replica has it, the failover keeps it
    const replies = await client.pipeline().set(key, 'before the kill').wait(1, 1_000).exec();
    expect(replies).toEqual([
      [null, 'OK'],
      [null, 1],
    ]);

    const { killed, replica } = await cluster.killPrimaryForKey(key);
    expect(killed).toMatchObject({ port: primaries[0]!.port, pid: primaries[0]!.pid });
    expect(isAlive(killed.pid)).toBe(false);
    const failoverMs = await cluster.waitForFailover(key, 15_000);
    console.log(`Redis Cluster failover (cluster-node-timeout ${NODE_TIMEOUT_MS} ms): ${failoverMs} ms`);
    expect(failoverMs).toBeGreaterThanOrEqual(NODE_TIMEOUT_MS);
    expect(failoverMs).toBeLessThan(FAILOVER_LIMIT_MS);
    expect(await cluster.primaryForKey(key)).toMatchObject({ port: replica!.port });
    expect((await cluster.primaries()).map((primary) => primary.port)).not.toContain(killed.port);

    // The client follows the new topology (it may need a retry while it refreshes its slots).
    let value: string | null = null;
    for (let attempt = 0; value === null && attempt < 50; attempt++) {
      value = await client.get(key).catch(() => null);
      if (value === null) await sleep(100);
    }
    expect(value).toBe('before the kill');
  });

  it('stop() leaves no process and no directory behind, and may be called again', async () => {
    const nodes = [...cluster.nodes];
    client.disconnect();
    await cluster.stop();
    await cluster.stop();
    for (const node of nodes) {
      expect({ pid: node.pid, alive: isAlive(node.pid) }).toEqual({ pid: node.pid, alive: false });
      expect(existsSync(node.dir)).toBe(false);
    }
  });
});
