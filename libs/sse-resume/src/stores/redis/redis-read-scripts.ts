import { REQUIRE_RUNNING } from './redis-lua-parts';

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
