/**
 * The process that starts the library's tasks and reads their streams, in process (the
 * `stream()` Observable an `@Sse()` handler would return, no HTTP): `producer` (argv) starts
 * them durable (`{ durable: true }`) and runs no worker, `runner` starts them without
 * `durable`, so they run here. Start-to-first-event = the `start()` call to the first
 * `progress` message; the end = the `end` message.
 */
import type { MessageEvent } from '@nestjs/common';
import { performance } from 'node:perf_hooks';
import { SseTaskService } from '../../libs/sse-resume/src';
import { createLibContext, type LibRole } from './lib-context';
import {
  fail,
  type GoMessage,
  libStreamProblem,
  runWindowed,
  type TaskRecord,
  tell,
  waitForGo,
} from './shared';

interface Received {
  id: number;
  type: string;
  data: unknown;
}

async function runTask(
  tasks: SseTaskService,
  go: GoMessage,
  durable: boolean,
  checkpoint: boolean,
): Promise<TaskRecord> {
  const startedAt = performance.now();
  const { taskId, resumeKey } = await tasks.start('bench', { steps: go.steps, checkpoint }, { durable });
  const startCallMs = performance.now() - startedAt;
  const received: Received[] = [];
  let firstAt: number | undefined;
  await new Promise<void>((resolve, reject) => {
    tasks.stream(taskId, { resumeKey }).subscribe({
      next: (message: MessageEvent) => {
        if (message.type === undefined) return; // the open message (resume point, retry)
        if (message.type === 'progress') firstAt ??= performance.now();
        const data = typeof message.data === 'string' ? (JSON.parse(message.data) as unknown) : message.data;
        received.push({ id: Number(message.id), type: message.type, data });
      },
      error: reject,
      complete: resolve,
    });
  });
  return {
    startCallMs,
    firstEventMs: (firstAt ?? NaN) - startedAt,
    endMs: performance.now() - startedAt,
    problem: libStreamProblem(received, go.steps),
  };
}

async function main(): Promise<void> {
  const role = process.argv[2] as LibRole;
  if (role !== 'producer' && role !== 'runner') throw new Error(`usage: lib-starter.js producer|runner`);
  const app = await createLibContext(role);
  const tasks = app.get(SseTaskService);
  tell({ type: 'ready' });
  const go = await waitForGo();
  const checkpoint = process.env.BENCH_CHECKPOINT === '1';
  tell(await runWindowed(go.tasks, go.window, () => runTask(tasks, go, role === 'producer', checkpoint)));
  // Stays up until the harness read its CPU time and peak RSS and sends SIGTERM (shutdown hooks).
}

main().catch(fail);
