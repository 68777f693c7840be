/**
 * Lua scripts of the Redis store. Each runs atomically on the keys of one task, which all
 * share the hash tag `{taskId}` (one Redis Cluster slot). Keys: KEYS[1] meta hash,
 * KEYS[2] events stream (entry id `<seq>-0`, fields t = type, d = data, s = size),
 * KEYS[3] expiry record ("gone": the key hash, kept past the TTL so clients get 410).
 * Errors are replied as `SSE_<CODE> [detail]` and mapped to the library's typed errors.
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
 * APPEND. ARGV: fence, historyLimit, historyBytes, liveChannel, n, then n x (type, data, size).
 * Assigns ids last+1 .. last+n, stores, trims, publishes all n in one message
 * ("seq\\ntype\\ndata" lines) and returns the first id.
 */
export const APPEND_SCRIPT = `${REQUIRE_RUNNING}
if status ~= 'running' then return redis.error_reply('SSE_NOT_RUNNING ' .. status) end
${FENCE_CHECK}
local limit, maxBytes, channel, n = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local last = tonumber(redis.call('HGET', meta, 'lastEventId'))
local first = tonumber(redis.call('HGET', meta, 'firstEventId'))
local bytes = tonumber(redis.call('HGET', meta, 'bytes'))
local lines = {}
for i = 0, n - 1 do
  local t, d, s = ARGV[6 + i * 3], ARGV[7 + i * 3], tonumber(ARGV[8 + i * 3])
  last = last + 1
  redis.call('XADD', events, last .. '-0', 't', t, 'd', d, 's', s)
  bytes = bytes + s
  lines[#lines + 1] = last .. '\\n' .. t .. '\\n' .. d
end
${TRIM}
${NOW}
redis.call('HSET', meta, 'lastEventId', last, 'firstEventId', first, 'bytes', bytes, 'updatedAt', now)
redis.call('PUBLISH', channel, table.concat(lines, '\\n'))
return last - n + 1
`;

/**
 * FINISH. ARGV: fence, status, data, error, ttl, retention, historyLimit, historyBytes,
 * liveChannel, controlChannel, taskId, requireLapsedLease ('1' = only if the lease lapsed).
 * Returns the id of the `end` event, or false if the task had already ended (or, with
 * requireLapsedLease, its owner is still alive).
 */
export const FINISH_SCRIPT = `${REQUIRE_RUNNING}
if status ~= 'running' then return false end
${FENCE_CHECK}
${NOW}
if ARGV[12] == '1' and tonumber(redis.call('HGET', meta, 'leaseUntil')) > now then return false end
local limit, maxBytes = tonumber(ARGV[7]), tonumber(ARGV[8])
local ttl, retention = tonumber(ARGV[5]), tonumber(ARGV[6])
local last = tonumber(redis.call('HGET', meta, 'lastEventId')) + 1
local first = tonumber(redis.call('HGET', meta, 'firstEventId'))
local size = string.len(ARGV[3]) + 3
local bytes = tonumber(redis.call('HGET', meta, 'bytes')) + size
redis.call('XADD', events, last .. '-0', 't', 'end', 'd', ARGV[3], 's', size)
${TRIM}
redis.call('HSET', meta, 'status', ARGV[2], 'lastEventId', last, 'firstEventId', first, 'bytes', bytes,
  'updatedAt', now, 'expiresAt', now + ttl, 'endEventId', last)
if ARGV[4] ~= '' then redis.call('HSET', meta, 'error', ARGV[4]) end
redis.call('HDEL', meta, 'leaseUntil')
redis.call('PEXPIRE', meta, ttl)
redis.call('PEXPIRE', events, ttl)
redis.call('SET', gone, redis.call('HGET', meta, 'keyHash'), 'PX', ttl + retention)
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

/** CREATE. ARGV: taskId, keyHash, owner, fence, leaseMs, createdAt, metadata JSON ('' = none). Returns the lease deadline (ms). */
export const CREATE_SCRIPT = `
local meta, events, gone = KEYS[1], KEYS[2], KEYS[3]
if redis.call('EXISTS', meta) == 1 or redis.call('EXISTS', gone) == 1 then
  return redis.error_reply('SSE_EXISTS')
end
${NOW}
local leaseUntil = now + tonumber(ARGV[5])
redis.call('HSET', meta, 'taskId', ARGV[1], 'keyHash', ARGV[2], 'status', 'running', 'createdAt', ARGV[6],
  'updatedAt', ARGV[6], 'lastEventId', 0, 'firstEventId', 1, 'bytes', 0, 'owner', ARGV[3], 'fence', ARGV[4],
  'leaseUntil', leaseUntil)
if ARGV[7] ~= '' then redis.call('HSET', meta, 'metadata', ARGV[7]) end
return leaseUntil
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
