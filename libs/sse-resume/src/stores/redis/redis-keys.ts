/**
 * The parts of one task, all under the hash tag `{taskId}`, so that they share a slot (the
 * store still needs a single node: the per-prefix keys are in other slots).
 */
export type TaskKeyPart = 'meta' | 'events' | 'gone' | 'live';

/**
 * How the Lua scripts name keys they are not given (other tasks' keys when shedding, the
 * resume-key index when a task ends). It must match {@link RedisKeys}, so both live here.
 * Expects a local `prefix`.
 */
export const LUA_KEY_NAMES = `
local function taskKey(id, part) return prefix .. '{' .. id .. '}:' .. part end
local function keyIndex(hash) return prefix .. 'key:' .. hash end
`;

/**
 * Names every Redis key and channel of one key prefix, so that the naming scheme is written
 * once (the Lua side is {@link LUA_KEY_NAMES}).
 */
export class RedisKeys {
  constructor(readonly prefix: string) {}

  /** A per-prefix key, e.g. `running` or `fence`. */
  key(name: string): string {
    return `${this.prefix}${name}`;
  }

  /** Where every instance hears that a task ended ("ended\ntaskId\nstatus"). */
  get controlChannel(): string {
    return this.key('control');
  }

  /** The resume-key index: key hash -> task id (`findTaskIdByKeyHash`). */
  keyIndex(keyHash: string): string {
    return `${this.prefix}key:${keyHash}`;
  }

  taskKey(taskId: string, part: TaskKeyPart): string {
    return `${this.prefix}{${taskId}}:${part}`;
  }

  /** The pub/sub channel of a task's live events. */
  liveChannel(taskId: string): string {
    return this.taskKey(taskId, 'live');
  }

  /** KEYS[1..3] of every task script: meta hash, events stream, expiry record. */
  taskKeys(taskId: string): string[] {
    return [this.taskKey(taskId, 'meta'), this.taskKey(taskId, 'events'), this.taskKey(taskId, 'gone')];
  }

  /** The per-prefix keys the scripts keep (see `globals` in redis-lua-parts.ts), in their KEYS order. */
  globalKeys(): string[] {
    return ['running', 'bytes', 'finished', 'sheddable', 'held'].map((name) => this.key(name));
  }

  /** KEYS of the scripts that write a task: its own keys, then the per-prefix ones. */
  writeKeys(taskId: string): string[] {
    return [...this.taskKeys(taskId), ...this.globalKeys()];
  }
}
