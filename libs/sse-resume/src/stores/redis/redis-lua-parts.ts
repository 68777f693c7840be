import { LUA_KEY_NAMES } from './redis-keys';

/**
 * The Lua pieces the Redis store's scripts share (the scripts themselves are in
 * redis-write-scripts.ts, redis-admission-scripts.ts and redis-read-scripts.ts).
 *
 * Every script runs atomically. The keys of one task all share the
 * hash tag `{taskId}`: KEYS[1] meta hash, KEYS[2] events stream (entry id `<seq>-0`,
 * fields t = type, d = data, s = size), KEYS[3] expiry record ("gone": the key hash, kept
 * past the TTL so clients get 410). Scripts that write also keep the per-prefix keys that
 * bound all tasks together (KEYS[4..8], see `globals`).
 * Errors are replied as `SSE_<CODE> [detail]` and mapped to the library's typed errors.
 *
 * Cluster: "per-prefix" means per bucket (redis-keyspace.ts): the prefix a script is given
 * is its task's bucket, whose keys (and every task in it) share the task's slot, so a
 * script never leaves one slot. Live events go out with the command the caller names
 * (PUBLISH on one node, SPUBLISH on a Cluster, none when the writer publishes them itself
 * after `WAIT`).
 */

/** Checks that the task exists (the caller then checks `status`). */
export const REQUIRE_RUNNING = `
local meta, events, gone = KEYS[1], KEYS[2], KEYS[3]
local status = redis.call('HGET', meta, 'status')
if not status then
  if redis.call('EXISTS', gone) == 1 then return redis.error_reply('SSE_EXPIRED') end
  return redis.error_reply('SSE_NOT_FOUND')
end
`;

/** Checks that the caller's fencing token (ARGV[1], '' = none) is current: a stale owner cannot write. */
export const FENCE_CHECK = `
if ARGV[1] ~= '' and redis.call('HGET', meta, 'fence') ~= ARGV[1] then
  return redis.error_reply('SSE_FENCED')
end
`;

export const NOW = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
`;

/**
 * The per-prefix keys that bound all tasks together:
 * - `running`: zset, running task ids by lease deadline (the reaper's list);
 * - `bytes`: the history bytes of every held task, running or finished;
 * - `finished`: zset, finished task ids by expiry (end + ttl, µs precision);
 * - `sheddable`: zset, the finished ones still holding more than their end event;
 * - `held`: hash, task id -> bytes of each finished task.
 * Finished tasks' own keys vanish by PEXPIRE, which tells nobody; `held` outlives them so
 * that whoever forgets an expired entry (EXPIRE_FINISHED, or CREATE first) subtracts
 * exactly its bytes, once: each entry is removed and subtracted in the same atomic script,
 * so two instances running the eviction job at once cannot subtract it twice, and every
 * change of a task's bytes moves the counter in the script that makes it. The counter
 * therefore never drifts; it may only lag an expiry until the next eviction run.
 * `prefix` (a local) names other tasks' keys.
 */
export const globals = (k: number) => `
local runningKey, totalKey, finishedKey, sheddableKey, heldKey = KEYS[${k}], KEYS[${k + 1}], KEYS[${k + 2}], KEYS[${k + 3}], KEYS[${k + 4}]
${LUA_KEY_NAMES}
-- Forgets up to max finished tasks whose TTL has passed; returns how many and their bytes.
local function expireFinished(now, max)
  local ids = redis.call('ZRANGEBYSCORE', finishedKey, '-inf', now, 'LIMIT', 0, max)
  if #ids == 0 then return 0, 0 end
  local freed = 0
  for _, b in ipairs(redis.call('HMGET', heldKey, unpack(ids))) do freed = freed + (tonumber(b) or 0) end
  redis.call('ZREM', finishedKey, unpack(ids))
  redis.call('ZREM', sheddableKey, unpack(ids))
  redis.call('HDEL', heldKey, unpack(ids))
  return #ids, freed
end
-- Drops the history of the oldest finished tasks, keeping each one's end event (its record,
-- status and end stay; firstEventId moves to the end), until total <= target.
local function shed(total, target)
  while total > target do
    local oldest = redis.call('ZRANGE', sheddableKey, 0, 0)[1]
    if not oldest then break end
    redis.call('ZREM', sheddableKey, oldest)
    local m = taskKey(oldest, 'meta')
    local endId = redis.call('HGET', m, 'endEventId')
    if endId then
      local e = taskKey(oldest, 'events')
      local entry = redis.call('XRANGE', e, endId .. '-0', endId .. '-0')[1]
      local keep = entry and tonumber(entry[2][6]) or 0
      local had = tonumber(redis.call('HGET', heldKey, oldest) or '0')
      redis.call('XTRIM', e, 'MINID', endId .. '-0')
      redis.call('HSET', m, 'firstEventId', endId, 'bytes', keep)
      redis.call('HSET', heldKey, oldest, keep)
      total = total - (had - keep)
    end
  end
  return total
end
`;

/**
 * Redis lost writes it had acknowledged (a failover to a replica that lacked them): the
 * owner passes the last id it was given (ARGV[KNOWN], '' = none). Those ids are never
 * handed out again, and the history before them is dropped, so that a reader that missed
 * them gets a `gap` instead of a silent hole. Needs locals meta, events, totalKey; leaves
 * `lastStored`, the task's last id after the repair.
 */
export const REPAIR_REWIND = `
local known = tonumber(ARGV[KNOWN]) or 0
local lastStored = tonumber(redis.call('HGET', meta, 'lastEventId'))
if known > lastStored then
  redis.call('XTRIM', events, 'MINID', (known + 1) .. '-0')
  local dropped = tonumber(redis.call('HGET', meta, 'bytes')) or 0
  redis.call('HSET', meta, 'lastEventId', known, 'firstEventId', known + 1, 'bytes', 0)
  redis.call('DECRBY', totalKey, dropped)
  lastStored = known
end
`;

/** Publishes (ARGV[PUBLISH]: 'PUBLISH', 'SPUBLISH' or '' for none) a message. */
export const PUBLISH = `
local function publish(channel, message)
  if ARGV[PUBLISH] ~= '' then redis.call(ARGV[PUBLISH], channel, message) end
end
`;

/** Drops the oldest events past the count or byte limit (the newest always stays). */
export const TRIM = `
local firstBefore = first
while last - first + 1 > 1 and (last - first + 1 > limit or bytes > maxBytes) do
  local oldest = redis.call('XRANGE', events, first .. '-0', first .. '-0')
  if oldest[1] then bytes = bytes - tonumber(oldest[1][2][6]) end
  first = first + 1
end
if first > firstBefore then redis.call('XTRIM', events, 'MINID', first .. '-0') end
`;

/**
 * A write this instance retries after a lost connection carries the same token (ARGV
 * writer, write): meta field `w:<writer>` = `<write>:<result>` is set with every write, so a
 * retry of a write that was in fact applied returns its result instead of applying it
 * twice. (An expected-id check alone could not tell our applied batch from another
 * instance's events that took those ids; one field per writing instance, only the last.)
 */
export const REPLAYED_WRITE = `
local writerField = 'w:' .. ARGV[WRITER]
if ARGV[WRITER] ~= '' then
  local previous = redis.call('HGET', meta, writerField)
  if previous then
    local write, result = string.match(previous, '^(%d+):(%d+)$')
    if write == ARGV[WRITER + 1] then return tonumber(result) end
  end
end
`;

/**
 * With several APPEND calls of one task in flight, each names the write it follows (ARGV
 * AFTER, '' = none in flight before it): a call whose predecessor was not applied (its
 * EVALSHA got NOSCRIPT after a script flush, and another client loaded the script before
 * this one ran) is refused with SSE_OUT_OF_ORDER instead of overtaking it. The writer then
 * settles what was applied and sends the rest again, in order (redis-task-writer.ts).
 * Follows {@link REPLAYED_WRITE} (its `writerField`).
 */
export const IN_ORDER = `
if ARGV[AFTER] ~= '' then
  local applied = redis.call('HGET', meta, writerField)
  if not applied or string.match(applied, '^(%d+):') ~= ARGV[AFTER] then
    return redis.error_reply('SSE_OUT_OF_ORDER')
  end
end
`;
