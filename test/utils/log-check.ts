import { hashResumeKey } from '../../libs/sse-resume/src/access/resume-key';
import { LOGGER_NAME } from '../../libs/sse-resume/src/sse-resume.messages';

/**
 * The file every app of an e2e run appends its log lines to (log-capture.ts): named by
 * `test/global-setup.js`, checked by `test/global-teardown.ts` with {@link logProblems}.
 * (No `@app/...` imports here: Jest loads the teardown without the test's module mapping.)
 */
export const RUN_LOG_ENV = 'SSE_RESUME_E2E_LOG';

/** A resume key: 32 random bytes as base64url, 43 characters (generateResumeKey). */
const KEY_SHAPE = /(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/;
/** A key's hash as stores keep it: SHA-256, hex (hashResumeKey). */
const HASH_SHAPE = /(?<![0-9A-Fa-f])[0-9A-Fa-f]{64}(?![0-9A-Fa-f])/;
/**
 * Library lines about the instance, not one task: they carry no `taskId`. So does the
 * interceptor's line about a failed stream that was not the library's (no task known).
 */
const NOT_ABOUT_A_TASK = [
  /^Redis /,
  /^task eviction failed$/,
  /^expired tasks evicted$/,
  /^an SSE stream failed after its response head/,
  // BullMQ's worker and QueueEvents `error` events name no job (a lost lock's job id is only in its text).
  /^durable task (worker|events) error$/,
  /^durable task worker lost a job lock/,
  // Shutdown of the instance's BullMQ queue, worker and events (all its jobs at once).
  /^closing the durable task queue/,
];

export interface LogCheckOptions {
  /** Resume keys given out (or guessed) during the run: neither they nor their hashes may appear. */
  secrets?: Iterable<string>;
}

/**
 * What is wrong with captured log text (one problem per line, with the line): a resume key
 * or its hash (the given ones, and anything shaped like one), a `key=` query string, a
 * library line that is not a structured record (JSON mode: `message` an object with a
 * string `message`), or one about a task without its `taskId`.
 */
export function logProblems(text: string, { secrets = [] }: LogCheckOptions = {}): string[] {
  const forbidden = [...secrets].flatMap((key) => [key, hashResumeKey(key)]);
  const problems: string[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const found = (what: string) => problems.push(`${what}: ${line.slice(0, 500)}`);
    if (forbidden.some((secret) => line.includes(secret))) found('a resume key or its hash');
    else if (KEY_SHAPE.test(line)) found('something shaped like a resume key');
    else if (HASH_SHAPE.test(line)) found('something shaped like a key hash');
    if (/key=/i.test(line)) found('a key= query string');
    if (!line.startsWith('{')) continue; // text output of a child app: checked for secrets only
    let record: { context?: unknown; message?: unknown };
    try {
      record = JSON.parse(line) as typeof record;
    } catch {
      found('not JSON');
      continue;
    }
    if (record.context !== LOGGER_NAME) continue;
    const message = record.message as { message?: unknown; taskId?: unknown } | null;
    if (typeof message !== 'object' || message === null || typeof message.message !== 'string') {
      found('a library line that is not a structured record');
    } else if (
      typeof message.taskId !== 'string' &&
      !NOT_ABOUT_A_TASK.some((re) => re.test(String(message.message)))
    ) {
      found('a library line about a task without its taskId');
    }
  }
  return problems;
}
