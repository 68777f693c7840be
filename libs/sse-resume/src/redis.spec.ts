import * as redisEntry from './redis';
import { RedisTaskStore } from './stores/redis/redis-task-store';

describe('@app/sse-resume/redis entry point', () => {
  it('exports the Redis store', () => {
    expect(redisEntry.RedisTaskStore).toBe(RedisTaskStore);
  });
});
