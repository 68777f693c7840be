/**
 * The server of `npm run stress -- --only stalled-replays`, in a process of its own so that
 * its RSS is the server's alone: the library on Express with `slowConsumerTimeoutMs` from
 * SLOW_CONSUMER_TIMEOUT_MS, one finished task with HISTORY_MB MB of history (16 KiB
 * events), and `GET /tasks/stats` (open streams, heap and external memory). Prints
 * `listening on <url> task <taskId> <resumeKey>` once the task has finished.
 */
import { Controller, Get, Query } from '@nestjs/common';
import { SseTaskService } from '@app/sse-resume';
import { startTestApp } from '@app/sse-resume/testing/nest-app';
import { TaskStreamController } from '@app/sse-resume/testing/stream-controller';

@Controller('tasks')
class StalledReplayController {
  constructor(private readonly tasks: SseTaskService) {}

  /** Open streams, and the memory the process holds (after a full GC with `?gc=1`). */
  @Get('stats')
  stats(@Query('gc') gc?: string): { openStreams: number; heapMb: number; externalMb: number } {
    if (gc === '1') (globalThis as { gc?: () => void }).gc?.();
    const memory = process.memoryUsage();
    return {
      openStreams: this.tasks.stats.openStreams,
      heapMb: memory.heapUsed / 1048576,
      externalMb: memory.external / 1048576,
    };
  }
}

const PAYLOAD = 'x'.repeat(16 * 1024);

async function main(): Promise<void> {
  const slowConsumerTimeoutMs = Number(process.env.SLOW_CONSUMER_TIMEOUT_MS ?? 30_000);
  const historyMb = Number(process.env.HISTORY_MB ?? 8);
  const events = Math.ceil((historyMb * 1024 * 1024) / PAYLOAD.length);
  const app = await startTestApp('express', [StalledReplayController, TaskStreamController], {
    slowConsumerTimeoutMs,
    historyBytes: (historyMb + 1) * 1024 * 1024,
    historyBudgetBytes: (historyMb + 64) * 1024 * 1024,
    maxSubscribersPerTask: 100_000,
  });
  const task = await app.tasks.start(async ({ emit }) => {
    for (let i = 1; i <= events; i++) await emit({ i, payload: PAYLOAD });
  });
  while (app.tasks.stats.runningTasks > 0) await new Promise((resolve) => setTimeout(resolve, 10));
  console.log(`listening on ${app.url} task ${task.taskId} ${task.resumeKey}`);
  process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
