import { describe, expect, it } from '@jest/globals';
import { bucketTags, CLUSTER_SLOTS, crc16, keySlot, RedisKeyspace } from './redis-keyspace';

describe('RedisKeyspace', () => {
  it("computes Redis Cluster's slots (CRC16 XMODEM, hash tags)", () => {
    expect(crc16('123456789')).toBe(0x31c3);
    // Values Redis's CLUSTER KEYSLOT answers.
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('bar')).toBe(5061);
    expect(keySlot('somekey')).toBe(11058);
    expect(keySlot('{foo}.bar')).toBe(12182);
    expect(keySlot('x{}{foo}')).toBe(keySlot('x{}{foo}')); // an empty tag: the whole key
    expect(keySlot('{}foo')).toBe(crc16('{}foo') % CLUSTER_SLOTS);
    expect(keySlot('a{foo}{bar}')).toBe(12182); // only the first tag counts
  });

  it('one bucket: the plain prefix, today’s single-node layout', () => {
    const keyspace = new RedisKeyspace('app:');
    expect(keyspace.sharded).toBe(false);
    expect(keyspace.of('t1').taskKeys('t1')).toEqual(['app:{t1}:meta', 'app:{t1}:events', 'app:{t1}:gone']);
    expect(keyspace.of('t1').key('running')).toBe('app:running');
  });

  it('Cluster: a task’s keys, live channel and bucket keys share one slot', () => {
    const keyspace = new RedisKeyspace('app:', 16);
    expect(keyspace.sharded).toBe(true);
    for (const taskId of ['t1', 'a-much-longer-task-id', '0f7c2a5e-6a1b-4e57-9d7b-3c1e8f3b2a10']) {
      const keys = keyspace.of(taskId);
      const slots = new Set(
        [
          ...keys.writeKeys(taskId),
          keys.liveChannel(taskId),
          keys.controlChannel,
          keys.keyIndex('hash'),
          keys.key('fence'),
        ].map(keySlot),
      );
      expect(slots.size).toBe(1);
      expect(keys.taskKey(taskId, 'meta')).toMatch(/^app:\{b\d+\.\d+\}:\{.+\}:meta$/);
    }
  });

  it('spreads tasks over every bucket and buckets evenly over the slot range', () => {
    const keyspace = new RedisKeyspace('app:', 16);
    const counts = new Array<number>(16).fill(0);
    for (let i = 0; i < 16_000; i++) counts[keyspace.bucketOf(`task-${i}`)]!++;
    for (const count of counts) expect(count).toBeGreaterThan(800);
    bucketTags(16).forEach((tag, k) => {
      expect(keySlot(`{${tag}}`)).toBeGreaterThanOrEqual(k * 1024);
      expect(keySlot(`{${tag}}`)).toBeLessThan((k + 1) * 1024);
    });
    expect(bucketTags(MAX_BUCKETS_UNDER_TEST)).toHaveLength(MAX_BUCKETS_UNDER_TEST);
  });

  it('is the same on every instance (deterministic tags and buckets)', () => {
    const a = new RedisKeyspace('p:', 8);
    const b = new RedisKeyspace('p:', 8);
    expect(a.buckets.map((k) => k.prefix)).toEqual(b.buckets.map((k) => k.prefix));
    expect(a.bucketOf('x')).toBe(b.bucketOf('x'));
  });

  it('refuses bad settings with a clear message', () => {
    expect(() => new RedisKeyspace('p:', 0)).toThrow('buckets must be an integer from 1 to 1024, got 0');
    expect(() => new RedisKeyspace('p:', 1.5)).toThrow(RangeError);
    expect(() => new RedisKeyspace('p{x}:', 4)).toThrow('may not contain "{" or "}"');
  });
});

const MAX_BUCKETS_UNDER_TEST = 1024;
