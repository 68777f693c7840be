import type { TaskClaim } from '../../interfaces/task-store.interface';
import type { RedisKeys } from './redis-keys';
import { REQUIRE_RUNNING } from './redis-lua-parts';

/**
 * CLAIM. KEYS: task (1-3), KEYS[4] the fence counter of the task's bucket (its slot).
 * ARGV: owner. A new attempt of a running task: takes a new fencing token (so that every
 * write of an earlier owner fails with SSE_FENCED), makes `owner` the owner and counts the
 * attempt. Returns {fence, attempt, lastEventId, checkpoint state or '', its event id or
 * '', durable ('1' or '')}; SSE_NOT_RUNNING once the task ended.
 */
export const CLAIM_SCRIPT = `${REQUIRE_RUNNING}
if status ~= 'running' then return redis.error_reply('SSE_NOT_RUNNING ' .. status) end
local fence = redis.call('INCR', KEYS[4])
local attempt = redis.call('HINCRBY', meta, 'attempt', 1)
redis.call('HSET', meta, 'owner', ARGV[1], 'fence', fence)
local f = redis.call('HMGET', meta, 'lastEventId', 'checkpoint', 'checkpointId', 'durable')
return {fence, attempt, f[1], f[2] or '', f[3] or '', f[4] or ''}
`;

/** KEYS and ARGV of {@link CLAIM_SCRIPT}. */
export function claimCall(
  taskId: string,
  ownerId: string,
  keys: RedisKeys,
): { keys: string[]; args: (string | number)[] } {
  return { keys: [...keys.taskKeys(taskId), keys.key('fence')], args: [ownerId] };
}

/** What CLAIM replied: the claim, the new fencing token, and whether the task is durable. */
export function parseClaim(reply: unknown): { claim: TaskClaim; fence: string; durable: boolean } {
  const [fence, attempt, lastEventId, state, eventId, durable] = reply as [
    number,
    number,
    string,
    string,
    string,
    string,
  ];
  const claim: TaskClaim = { attempt: Number(attempt), lastEventId: Number(lastEventId) };
  if (eventId !== '') claim.checkpoint = { state, eventId: Number(eventId) };
  return { claim, fence: String(fence), durable: durable === '1' };
}
