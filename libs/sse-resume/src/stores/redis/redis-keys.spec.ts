import { afterAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { LUA_KEY_NAMES, RedisKeys } from './redis-keys';
import { TEST_REDIS_URL } from '../../testing/redis';

describe('RedisKeys', () => {
  const keys = new RedisKeys('app:');
  const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true });

  afterAll(() => redis.disconnect());

  it('puts every key and the live channel of a task under its hash tag', () => {
    expect(keys.taskKeys('t1')).toEqual(['app:{t1}:meta', 'app:{t1}:events', 'app:{t1}:gone']);
    expect(keys.liveChannel('t1')).toBe('app:{t1}:live');
    expect(keys.writeKeys('t1')).toEqual([
      ...keys.taskKeys('t1'),
      'app:running',
      'app:bytes',
      'app:finished',
      'app:sheddable',
      'app:held',
    ]);
    expect(keys.controlChannel).toBe('app:control');
    expect(keys.keyIndex('abc')).toBe('app:key:abc');
  });

  it('names keys in Lua exactly as in TypeScript (the scripts name keys they are not given)', async () => {
    const names = await redis.eval(
      `local prefix = ARGV[1]\n${LUA_KEY_NAMES}\nreturn {taskKey(ARGV[2], 'meta'), taskKey(ARGV[2], 'events'), keyIndex(ARGV[3])}`,
      0,
      keys.prefix,
      'task-1',
      'hash-1',
    );
    expect(names).toEqual([
      keys.taskKey('task-1', 'meta'),
      keys.taskKey('task-1', 'events'),
      keys.keyIndex('hash-1'),
    ]);
  });
});
