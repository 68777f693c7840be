import type { NewTaskRecord, TaskStoreLimits } from '../../interfaces/task-store.interface';
import { STORE_FULL_RETRY_SECONDS } from '../../sse-resume.constants';
import type { RedisKeys } from './redis-keys';
import { globals, NOW, REPAIR_REWIND } from './redis-lua-parts';

/* The scripts that admit a task, keep its lease and forget it once expired. */

/**
 * CREATE. KEYS: task (1-3), globals (4-8), KEYS[9] fence counter, KEYS[10] resume-key
 * index. ARGV: taskId, keyHash, owner, leaseMs, createdAt, metadata JSON ('' = none),
 * maxTasks, historyBudgetBytes, prefix, retryAfterSeconds when full, durable ('1' or ''):
 * see {@link createCall}. Counts and admits in one step (so concurrent creates cannot
 * overshoot maxTasks): tasks held = running + finished within their TTL. A durable task has
 * no lease (`leaseUntil` unset, `running` score +inf: no reaper fails it), `durable` = 1
 * and `attempt` = 0. Returns {leaseUntil (0 for a durable task), fence}.
 */
export const CREATE_SCRIPT = `
local meta, events, gone = KEYS[1], KEYS[2], KEYS[3]
if redis.call('EXISTS', meta) == 1 or redis.call('EXISTS', gone) == 1 then
  return redis.error_reply('SSE_EXISTS')
end
local prefix, maxTasks, budget = ARGV[9], tonumber(ARGV[7]), tonumber(ARGV[8])
${globals(4)}
${NOW}
local _, freed = expireFinished(now, 1000)
local total = math.max(0, tonumber(redis.call('GET', totalKey) or '0') - freed)
local held = redis.call('ZCARD', runningKey) + redis.call('ZCOUNT', finishedKey, '(' .. now, '+inf')
if held >= maxTasks then
  redis.call('SET', totalKey, total)
  local soonest = redis.call('ZRANGEBYSCORE', finishedKey, '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)[2]
  local seconds = soonest and math.max(1, math.ceil((tonumber(soonest) - now) / 1000)) or 5
  return redis.error_reply('SSE_TOO_MANY ' .. seconds)
end
if total >= budget then total = shed(total, budget - 1) end
redis.call('SET', totalKey, total)
if total >= budget then return redis.error_reply('SSE_STORE_FULL ' .. ARGV[10]) end
local fence = redis.call('INCR', KEYS[9])
local leaseUntil = now + tonumber(ARGV[4])
local fields = {'taskId', ARGV[1], 'keyHash', ARGV[2], 'status', 'running', 'createdAt', ARGV[5],
  'updatedAt', ARGV[5], 'lastEventId', 0, 'firstEventId', 1, 'bytes', 0, 'owner', ARGV[3], 'fence', fence}
local score = leaseUntil
if ARGV[11] == '1' then
  leaseUntil, score = 0, '+inf'
  fields[#fields + 1], fields[#fields + 2], fields[#fields + 3], fields[#fields + 4] = 'durable', 1, 'attempt', 0
else
  fields[#fields + 1], fields[#fields + 2] = 'leaseUntil', leaseUntil
end
redis.call('HSET', meta, unpack(fields))
if ARGV[6] ~= '' then redis.call('HSET', meta, 'metadata', ARGV[6]) end
redis.call('ZADD', runningKey, score, ARGV[1])
redis.call('SET', KEYS[10], ARGV[1])
return {leaseUntil, fence}
`;

/**
 * EXPIRE_FINISHED. KEYS: the globals (1-5). ARGV: max. Forgets up to max finished
 * tasks whose TTL has passed and subtracts their bytes; returns how many. The eviction job
 * runs it (every leaseMs / 2), so the counter follows PEXPIRE within that.
 */
export const EXPIRE_FINISHED_SCRIPT = `
local prefix = ''
${globals(1)}
${NOW}
local count, freed = expireFinished(now, tonumber(ARGV[1]))
if count > 0 then
  -- Never below 0 (tasks written before the counter existed were never added to it).
  redis.call('SET', totalKey, math.max(0, tonumber(redis.call('GET', totalKey) or '0') - freed))
end
return count
`;

/**
 * RENEW. KEYS: meta, events, the bucket's running zset and bytes counter. ARGV: fence,
 * leaseMs, taskId, known (the last id the owner was given), durable ('1': the task has no
 * lease, only the rest is done). Extends the owner's lease (and its deadline in the reaper's
 * list) and repairs a rewind (REPAIR_REWIND): after a failover, within one renewal, a
 * client resuming from an id it was given finds it again. Returns the new deadline (1 for a
 * durable task), or 0 if no longer owned.
 */
export const RENEW_SCRIPT = `
local meta, events, runningKey, totalKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('HGET', meta, 'status') ~= 'running' or redis.call('HGET', meta, 'fence') ~= ARGV[1] then
  return 0
end
${REPAIR_REWIND.replace(/KNOWN/g, '4')}
if ARGV[5] == '1' then return 1 end
${NOW}
local leaseUntil = now + tonumber(ARGV[2])
redis.call('HSET', meta, 'leaseUntil', leaseUntil)
redis.call('ZADD', runningKey, 'XX', leaseUntil, ARGV[3])
return leaseUntil
`;

/** KEYS and ARGV of {@link RENEW_SCRIPT}. */
export function renewCall(
  call: { taskId: string; fence: string; known: number; durable?: boolean },
  leaseMs: number,
  keys: RedisKeys,
): { keys: string[]; args: (string | number)[] } {
  return {
    keys: [
      keys.taskKey(call.taskId, 'meta'),
      keys.taskKey(call.taskId, 'events'),
      keys.key('running'),
      keys.key('bytes'),
    ],
    args: [call.fence, leaseMs, call.taskId, call.known || '', call.durable ? '1' : ''],
  };
}

/**
 * COUNT_HELD. KEYS: a bucket's running and finished zsets. Returns {held, soonest}: the
 * bucket's tasks held against maxTasks (running + finished within their TTL) and the
 * soonest expiry among them ('' if none). Read from every bucket after a Cluster create.
 */
export const COUNT_HELD_SCRIPT = `
${NOW}
local soonest = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)[2]
return {redis.call('ZCARD', KEYS[1]) + redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf'), soonest or '', now}
`;

/**
 * UNDO_CREATE. KEYS: meta, events, gone, running zset, resume-key index. ARGV: taskId.
 * Takes back a create that made the whole Cluster hold more than maxTasks (counted across
 * buckets after the create: see RedisAdmission). The task had no event and no byte yet.
 */
export const UNDO_CREATE_SCRIPT = `
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[5])
redis.call('ZREM', KEYS[4], ARGV[1])
return 1
`;

/** KEYS and ARGV of {@link CREATE_SCRIPT}. */
export function createCall(
  task: NewTaskRecord,
  leaseMs: number,
  keys: RedisKeys,
  limits: TaskStoreLimits,
): { keys: string[]; args: (string | number)[] } {
  return {
    keys: [...keys.writeKeys(task.taskId), keys.key('fence'), keys.keyIndex(task.keyHash)],
    args: [
      task.taskId,
      task.keyHash,
      task.ownerId ?? '',
      leaseMs,
      task.createdAt,
      task.metadata === undefined ? '' : JSON.stringify(task.metadata),
      limits.maxTasks,
      limits.historyBudgetBytes,
      keys.prefix,
      STORE_FULL_RETRY_SECONDS,
      task.durable ? '1' : '',
    ],
  };
}
