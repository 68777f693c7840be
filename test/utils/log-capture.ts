import type { LoggerService } from '@nestjs/common';
import { appendFileSync } from 'node:fs';
import { CapturingLogger } from '@app/sse-resume/testing/log-capture';
import { RUN_LOG_ENV } from './log-check';

/** A JSON logger appending to the run's log file, or `false` (no logs) outside such a run. */
export function runLogger(): LoggerService | false {
  const file = process.env[RUN_LOG_ENV];
  if (!file) return false;
  return new CapturingLogger({ json: true }, appendToRunLog);
}

/** Appends log output (a line, or a child app's output: text, or JSON with `LOG_JSON=1`) to the run's log file. */
export function appendToRunLog(output: string): void {
  const file = process.env[RUN_LOG_ENV];
  if (file && output) appendFileSync(file, output.endsWith('\n') ? output : `${output}\n`);
}
