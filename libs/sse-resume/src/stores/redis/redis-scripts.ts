/**
 * Lua scripts of the Redis store. Each runs atomically. The keys of one task all share the
 * hash tag `{taskId}`: KEYS[1] meta hash, KEYS[2] events stream (entry id `<seq>-0`,
 * fields t = type, d = data, s = size), KEYS[3] expiry record ("gone": the key hash, kept
 * past the TTL so clients get 410). Scripts that write also keep the per-prefix keys that
 * bound all tasks together (KEYS[4..8], see `globals`).
 * Errors are replied as `SSE_<CODE> [detail]` and mapped to the library's typed errors.
 *
 * Cluster: the per-prefix keys (and the keys of the other tasks that budget shedding
 * touches, named from ARGV's prefix) are not in the task's slot, so these scripts run on a
 * single node only. A Cluster version would keep the counters per slot (a hash tag per
 * slot bucket), shed within the writing task's slot, and sum the buckets for `create`.
 */

/** Checks that the task exists and runs, and that the caller's fencing token (if any) is current. */
const REQUIRE_RUNNING = `
local meta, events, gone = KEYS[1], KEYS[2], KEYS[3]
local status = redis.call('HGET', meta, 'status')
if not status then
  if redis.call('EXISTS', gone) == 1 then return redis.error_reply('SSE_EXPIRED') end
  return redis.error_reply('SSE_NOT_FOUND')
end
`;

const FENCE_CHECK = `
if ARGV[1] ~= '' and redis.call('HGET', meta, 'fence') ~= ARGV[1] then
  return redis.error_reply('SSE_FENCED')
end
`;

const NOW = `
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
const globals = (k: number) => `
local runningKey, totalKey, finishedKey, sheddableKey, heldKey = KEYS[${k}], KEYS[${k + 1}], KEYS[${k + 2}], KEYS[${k + 3}], KEYS[${k + 4}]
local function taskKey(id, part) return prefix .. '{' .. id .. '}:' .. part end
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

/** Drops the oldest events past the count or byte limit (the newest always stays). */
const TRIM = `
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
const REPLAYED_WRITE = `
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
 * APPEND. KEYS: task (1-3), globals (4-8). ARGV: fence, historyLimit, historyBytes,
 * liveChannel, prefix, historyBudgetBytes, writer, write, n, then n x (type, data, size).
 * Assigns ids last+1 .. last+n, stores, trims (own limits, then the budget: see `globals`),
 * publishes all n in one message ("seq\\ntype\\ndata" lines) and returns the first id.
 */
export const APPEND_SCRIPT = `${REQUIRE_RUNNING}
${REPLAYED_WRITE.replace(/WRITER/g, '7')}
if status ~= 'running' then return redis.error_reply('SSE_NOT_RUNNING ' .. status) end
${FENCE_CHECK}
local limit, maxBytes, channel, n = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[9])
local prefix, budget = ARGV[5], tonumber(ARGV[6])
${globals(4)}
local last = tonumber(redis.call('HGET', meta, 'lastEventId'))
local first = tonumber(redis.call('HGET', meta, 'firstEventId'))
local bytes = tonumber(redis.call('HGET', meta, 'bytes'))
local bytesBefore = bytes
local lines = {}
for i = 0, n - 1 do
  local t, d, s = ARGV[10 + i * 3], ARGV[11 + i * 3], tonumber(ARGV[12 + i * 3])
  last = last + 1
  redis.call('XADD', events, last .. '-0', 't', t, 'd', d, 's', s)
  bytes = bytes + s
  lines[#lines + 1] = last .. '\\n' .. t .. '\\n' .. d
end
${TRIM}
local total = tonumber(redis.call('GET', totalKey) or '0') + bytes - bytesBefore
if total > budget then
  total = shed(total, budget)
  -- Still over with no finished history left to drop: this task keeps its newest events.
  local firstBefore = first
  while last - first + 1 > 1 and total > budget do
    local oldest = redis.call('XRANGE', events, first .. '-0', first .. '-0')
    if oldest[1] then
      local s = tonumber(oldest[1][2][6])
      bytes = bytes - s
      total = total - s
    end
    first = first + 1
  end
  if first > firstBefore then redis.call('XTRIM', events, 'MINID', first .. '-0') end
end
redis.call('SET', totalKey, total)
${NOW}
local firstId = last - n + 1
redis.call('HSET', meta, 'lastEventId', last, 'firstEventId', first, 'bytes', bytes, 'updatedAt', now)
if ARGV[7] ~= '' then redis.call('HSET', meta, writerField, ARGV[8] .. ':' .. firstId) end
redis.call('PUBLISH', channel, table.concat(lines, '\\n'))
return firstId
`;

/**
 * FINISH. KEYS: task (1-3), globals (4-8). ARGV: fence, status, data, error, ttl,
 * retention, historyLimit, historyBytes, liveChannel, controlChannel, taskId,
 * requireLapsedLease ('1' = only if the lease lapsed), prefix, historyBudgetBytes, writer,
 * write. Ends the task, starts the TTL of its keys and of its resume-key index, moves it
 * from `running` to `finished`, and sheds finished history if over the budget. Returns the
 * id of the `end` event, or false if the task had already ended (or, with
 * requireLapsedLease, its owner is still alive).
 */
export const FINISH_SCRIPT = `${REQUIRE_RUNNING}
${REPLAYED_WRITE.replace(/WRITER/g, '15')}
if status ~= 'running' then return false end
${FENCE_CHECK}
local clock = redis.call('TIME')
local nowMicros = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local now = math.floor(nowMicros / 1000)
if ARGV[12] == '1' and tonumber(redis.call('HGET', meta, 'leaseUntil')) > now then return false end
local prefix, budget = ARGV[13], tonumber(ARGV[14])
${globals(4)}
local limit, maxBytes = tonumber(ARGV[7]), tonumber(ARGV[8])
local ttl, retention = tonumber(ARGV[5]), tonumber(ARGV[6])
local last = tonumber(redis.call('HGET', meta, 'lastEventId')) + 1
local first = tonumber(redis.call('HGET', meta, 'firstEventId'))
local size = string.len(ARGV[3]) + 3
local bytesBefore = tonumber(redis.call('HGET', meta, 'bytes'))
local bytes = bytesBefore + size
redis.call('XADD', events, last .. '-0', 't', 'end', 'd', ARGV[3], 's', size)
${TRIM}
redis.call('HSET', meta, 'status', ARGV[2], 'lastEventId', last, 'firstEventId', first, 'bytes', bytes,
  'updatedAt', now, 'expiresAt', now + ttl, 'endEventId', last)
if ARGV[4] ~= '' then redis.call('HSET', meta, 'error', ARGV[4]) end
if ARGV[15] ~= '' then redis.call('HSET', meta, writerField, ARGV[16] .. ':' .. last) end
redis.call('HDEL', meta, 'leaseUntil')
redis.call('PEXPIRE', meta, ttl)
redis.call('PEXPIRE', events, ttl)
local keyHash = redis.call('HGET', meta, 'keyHash')
redis.call('SET', gone, keyHash, 'PX', ttl + retention)
redis.call('PEXPIRE', prefix .. 'key:' .. keyHash, ttl + retention)
redis.call('ZREM', runningKey, ARGV[11])
-- Scored by expiry with µs precision (formatted: Lua would print 14 digits): one TTL per
-- prefix, so this is end order too.
local expiry = string.format('%.3f', nowMicros / 1000 + ttl)
redis.call('ZADD', finishedKey, expiry, ARGV[11])
redis.call('HSET', heldKey, ARGV[11], bytes)
if bytes > size then redis.call('ZADD', sheddableKey, expiry, ARGV[11]) end
local total = tonumber(redis.call('GET', totalKey) or '0') + bytes - bytesBefore
if total > budget then total = shed(total, budget) end
redis.call('SET', totalKey, total)
redis.call('PUBLISH', ARGV[9], last .. '\\nend\\n' .. ARGV[3])
redis.call('PUBLISH', ARGV[10], 'ended\\n' .. ARGV[11] .. '\\n' .. ARGV[2])
return last
`;

/**
 * READ_FRAMES. ARGV: afterId, limit, maxChars. Returns {firstEventId, lastEventId, count,
 * lastId, ended (0/1), text}: the events after afterId as SSE frames, built in Redis so the
 * client decodes one string per round trip instead of nested arrays per event.
 */
export const READ_FRAMES_SCRIPT = `${REQUIRE_RUNNING}
local first = redis.call('HGET', meta, 'firstEventId')
local last = tonumber(redis.call('HGET', meta, 'lastEventId'))
local afterId, limit, maxChars = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local entries = redis.call('XRANGE', events, (afterId + 1) .. '-0', '+', 'COUNT', limit)
local parts, count, chars, lastId, ended = {}, 0, 0, ARGV[1], 0
for _, entry in ipairs(entries) do
  local id = string.sub(entry[1], 1, -3)
  if tonumber(id) > last then break end
  local fields = entry[2]
  local frame = 'event: ' .. fields[2] .. '\\nid: ' .. id .. '\\ndata: ' .. fields[4] .. '\\n\\n'
  parts[#parts + 1] = frame
  count = count + 1
  lastId = id
  if fields[2] == 'end' then ended = 1 end
  chars = chars + string.len(frame)
  if chars >= maxChars then break end
end
return {first, tostring(last), count, lastId, ended, table.concat(parts)}
`;

/**
 * CREATE. KEYS: task (1-3), globals (4-8), KEYS[9] fence counter, KEYS[10] resume-key
 * index. ARGV: taskId, keyHash, owner, leaseMs, createdAt, metadata JSON ('' = none),
 * maxTasks, historyBudgetBytes, prefix, retryAfterSeconds when full.
 * Counts and admits in one step (so concurrent creates cannot overshoot maxTasks): tasks
 * held = running + finished within their TTL. Returns {leaseUntil, fence}.
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
redis.call('HSET', meta, 'taskId', ARGV[1], 'keyHash', ARGV[2], 'status', 'running', 'createdAt', ARGV[5],
  'updatedAt', ARGV[5], 'lastEventId', 0, 'firstEventId', 1, 'bytes', 0, 'owner', ARGV[3], 'fence', fence,
  'leaseUntil', leaseUntil)
if ARGV[6] ~= '' then redis.call('HSET', meta, 'metadata', ARGV[6]) end
redis.call('ZADD', runningKey, leaseUntil, ARGV[1])
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

/** RENEW. ARGV: fence, leaseMs. Extends the owner's lease; returns the new deadline, or 0 if no longer owned. */
export const RENEW_SCRIPT = `
local meta = KEYS[1]
if redis.call('HGET', meta, 'status') ~= 'running' or redis.call('HGET', meta, 'fence') ~= ARGV[1] then
  return 0
end
${NOW}
local leaseUntil = now + tonumber(ARGV[2])
redis.call('HSET', meta, 'leaseUntil', leaseUntil)
return leaseUntil
`;
