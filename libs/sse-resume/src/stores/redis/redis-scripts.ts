import { createHash } from 'node:crypto';
import {
  COUNT_HELD_SCRIPT,
  CREATE_SCRIPT,
  EXPIRE_FINISHED_SCRIPT,
  RENEW_SCRIPT,
  UNDO_CREATE_SCRIPT,
} from './redis-admission-scripts';
import { CLAIM_SCRIPT } from './redis-claim-script';
import { READ_FRAMES_SCRIPT } from './redis-read-scripts';
import { APPEND_SCRIPT, FINISH_SCRIPT } from './redis-write-scripts';

/** A Lua script with the SHA-1 that EVALSHA names it by (the text is sent only when Redis lacks it). */
export interface Script {
  readonly lua: string;
  readonly sha: string;
}

function script(lua: string): Script {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/** Every script of the Redis store, by what it does (their text: redis-*-scripts.ts). */
export const SCRIPTS = {
  append: script(APPEND_SCRIPT),
  finish: script(FINISH_SCRIPT),
  create: script(CREATE_SCRIPT),
  renew: script(RENEW_SCRIPT),
  readFrames: script(READ_FRAMES_SCRIPT),
  expireFinished: script(EXPIRE_FINISHED_SCRIPT),
  countHeld: script(COUNT_HELD_SCRIPT),
  undoCreate: script(UNDO_CREATE_SCRIPT),
  claim: script(CLAIM_SCRIPT),
};

/** Redis does not have the script (restarted, failed over, or `SCRIPT FLUSH`): send its text. */
export function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.includes('NOSCRIPT');
}
