import { existsSync, readFileSync, rmSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { logProblems, RUN_LOG_ENV } from './utils/log-check';

/**
 * Checks the log lines of every app of the e2e run (see global-setup.js): no resume key or
 * key hash, no `key=`, every library line structured and about its task. Fails the run with
 * the offending lines, keeping the file; deletes the folder global-setup made for it when all
 * is well.
 */
export default function checkRunLog(): void {
  const file = process.env[RUN_LOG_ENV];
  if (!file || !existsSync(file)) return;
  const text = readFileSync(file, 'utf8');
  const problems = logProblems(text);
  if (problems.length > 0) {
    throw new Error(
      `${problems.length} problem(s) in the logs of this e2e run (${file}):\n${problems.slice(0, 30).join('\n')}`,
    );
  }
  const lines = text.split('\n').filter((line) => line !== '').length;
  console.log(`\nlogs of this e2e run: ${lines} lines checked, no resume key, no key hash, no key=\n`);
  // Only the folder global-setup made: a file the caller named stays.
  if (basename(dirname(file)).startsWith('sse-resume-e2e-')) {
    rmSync(dirname(file), { recursive: true, force: true });
  }
}
