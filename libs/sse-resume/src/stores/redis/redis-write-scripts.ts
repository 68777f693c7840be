import type { TaskStoreLimits, TaskTermination } from '../../interfaces/task-store.interface';
import type { RedisKeys } from './redis-keys';
import {
  FENCE_CHECK,
  globals,
  IN_ORDER,
  NOW,
  PUBLISH,
  REPAIR_REWIND,
  REPLAYED_WRITE,
  REQUIRE_RUNNING,
  TRIM,
} from './redis-lua-parts';

/*
 * The scripts that write a task's history (APPEND, FINISH) and the only builders of their
 * argument lists, so that an argument's position is known in this file alone.
 */

/**
 * APPEND. KEYS: task (1-3), globals (4-8). ARGV: fence, historyLimit, historyBytes,
 * liveChannel, prefix, historyBudgetBytes, writer, write, known (last id the owner was
 * given), publish command, after (the write this call follows, see IN_ORDER), n, then
 * n x (type, data, size), then optionally 'c', state (a checkpoint: stored with the last
 * event's id) or 'o', source, position (appended only if position sorts after the source's
 * last one, which it becomes; else returns 0): build them with {@link appendArgs}. Refuses
 * a call that would overtake an unapplied one (IN_ORDER), repairs a rewind (see
 * REPAIR_REWIND), assigns ids last+1 .. last+n, stores, trims (own limits, then the budget:
 * see `globals`), publishes all n in one message ("seq\\ntype\\ndata" lines) and returns
 * the first id.
 */
export const APPEND_SCRIPT = `${REQUIRE_RUNNING}
${REPLAYED_WRITE.replace(/WRITER/g, '7')}
${IN_ORDER.replace(/AFTER/g, '11')}
if status ~= 'running' then return redis.error_reply('SSE_NOT_RUNNING ' .. status) end
${FENCE_CHECK}
local limit, maxBytes, channel, n = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[12])
local extra = 13 + n * 3
if ARGV[extra] == 'o' and ARGV[extra + 2] <= (redis.call('HGET', meta, 'once:' .. ARGV[extra + 1]) or '') then
  -- Applied already (this position or a later one of the source): nothing, still in order.
  if ARGV[7] ~= '' then redis.call('HSET', meta, writerField, ARGV[8] .. ':0') end
  return 0
end
local prefix, budget = ARGV[5], tonumber(ARGV[6])
${globals(4)}
${REPAIR_REWIND.replace(/KNOWN/g, '9')}
${PUBLISH.replace(/PUBLISH\]/g, '10]')}
local last = lastStored
local first = tonumber(redis.call('HGET', meta, 'firstEventId'))
local bytes = tonumber(redis.call('HGET', meta, 'bytes'))
local bytesBefore = bytes
local lines = {}
for i = 0, n - 1 do
  local t, d, s = ARGV[13 + i * 3], ARGV[14 + i * 3], tonumber(ARGV[15 + i * 3])
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
if ARGV[extra] == 'c' then
  redis.call('HSET', meta, 'checkpoint', ARGV[extra + 1], 'checkpointId', last)
elseif ARGV[extra] == 'o' then
  redis.call('HSET', meta, 'once:' .. ARGV[extra + 1], ARGV[extra + 2])
end
publish(channel, table.concat(lines, '\\n'))
return firstId
`;

/**
 * FINISH. KEYS: task (1-3), globals (4-8). ARGV: fence, status, data, error, ttl,
 * retention, historyLimit, historyBytes, liveChannel, controlChannel, taskId,
 * requireLapsedLease ('1' = only if the lease lapsed), prefix, historyBudgetBytes, writer,
 * write, known, publish command: build them with {@link finishArgs}. Ends the task, starts the TTL of its keys and of its resume-key index, moves it
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
if ARGV[12] == '1' then
  -- A durable task has no lease (no leaseUntil): the queue, not a reaper, ends it.
  local leaseUntil = redis.call('HGET', meta, 'leaseUntil')
  if not leaseUntil or tonumber(leaseUntil) > now then return false end
end
local prefix, budget = ARGV[13], tonumber(ARGV[14])
${globals(4)}
${REPAIR_REWIND.replace(/KNOWN/g, '17')}
${PUBLISH.replace(/PUBLISH\]/g, '18]')}
local limit, maxBytes = tonumber(ARGV[7]), tonumber(ARGV[8])
local ttl, retention = tonumber(ARGV[5]), tonumber(ARGV[6])
local last = lastStored + 1
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
-- The expiry record (410) and the resume-key index outlive the task by the same retention:
-- an index left without expiry would stay for ever.
local keyHash, goneMs = redis.call('HGET', meta, 'keyHash'), ttl + retention
redis.call('SET', gone, keyHash, 'PX', goneMs)
redis.call('PEXPIRE', keyIndex(keyHash), goneMs)
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
publish(ARGV[9], last .. '\\nend\\n' .. ARGV[3])
publish(ARGV[10], 'ended\\n' .. ARGV[11] .. '\\n' .. ARGV[2])
return last
`;

/** Names one write of one instance, so that a retry of a write already applied is recognized. */
export interface WriteToken {
  readonly writer: string;
  readonly write: number;
}

/** An event to append; `size` is what it counts against the history limits (UTF-8 bytes of data + type). */
export interface EventToAppend {
  readonly type: string;
  readonly data: string;
  readonly size: number;
  /** A checkpoint's state (JSON), stored with this event's id; only on the last event of a call. */
  readonly checkpoint?: string;
}

/** How a script publishes live events: classic, sharded (Cluster), or not at all (the writer does, after `WAIT`). */
export type PublishCommand = 'PUBLISH' | 'SPUBLISH' | '';

/** ARGV of {@link APPEND_SCRIPT}. */
export function appendArgs(
  call: {
    taskId: string;
    fence: string;
    events: readonly EventToAppend[];
    token: WriteToken;
    /** The last id the owner was given for this task (0 = none): see REPAIR_REWIND. */
    known: number;
    publish: PublishCommand;
    /** The write (its number) this call follows while both are in flight; none when it is sent alone. */
    after?: number;
    /** Append only if `position` sorts after the last one applied for `source` (appendOnce). */
    once?: { source: string; position: string };
  },
  keys: RedisKeys,
  limits: TaskStoreLimits,
): (string | number)[] {
  const args: (string | number)[] = [
    call.fence,
    limits.historyLimit,
    limits.historyBytes,
    keys.liveChannel(call.taskId),
    keys.prefix,
    limits.historyBudgetBytes,
    call.token.writer,
    call.token.write,
    call.known || '',
    call.publish,
    call.after ?? '',
    call.events.length,
  ];
  for (const event of call.events) args.push(event.type, event.data, event.size);
  const checkpoint = call.events.at(-1)?.checkpoint;
  if (call.once) args.push('o', call.once.source, call.once.position);
  else if (checkpoint !== undefined) args.push('c', checkpoint);
  return args;
}

/** ARGV of {@link FINISH_SCRIPT}. */
export function finishArgs(
  call: {
    taskId: string;
    termination: TaskTermination;
    /** The owner's fencing token; '' when another instance ends the task (cancel, the reaper). */
    fence: string;
    /** End it only if its owner's lease has lapsed (the reaper): a live owner keeps its task. */
    onlyIfLeaseLapsed: boolean;
    /** Set when the write may be retried; a write sent once needs none. */
    token?: WriteToken;
    /** The last id the owner was given (0 = none, e.g. not the owner): see REPAIR_REWIND. */
    known?: number;
    publish: PublishCommand;
  },
  keys: RedisKeys,
  limits: TaskStoreLimits,
): (string | number)[] {
  const { termination } = call;
  return [
    call.fence,
    termination.status,
    termination.data,
    termination.error ?? '',
    limits.ttl,
    limits.expiredRetentionMs,
    limits.historyLimit,
    limits.historyBytes,
    keys.liveChannel(call.taskId),
    keys.controlChannel,
    call.taskId,
    call.onlyIfLeaseLapsed ? '1' : '',
    keys.prefix,
    limits.historyBudgetBytes,
    call.token?.writer ?? '',
    call.token?.write ?? '',
    call.known || '',
    call.publish,
  ];
}
