/**
 * The Redis store, a separate entry point so that `ioredis` is only needed by those who use it.
 *
 * @module nest-sse-resume/redis
 */
export { RedisTaskStore } from './stores/redis/redis-task-store';
export type { RedisTaskStoreOptions } from './stores/redis/redis-task-store.options';
