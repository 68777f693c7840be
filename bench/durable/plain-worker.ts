/**
 * The `plain-bullmq` contender's worker process: a plain BullMQ `Worker` (no library) whose
 * job calls `job.updateProgress({ i })` once per step, awaited, and returns. What a BullMQ user
 * writes without this library; the baseline of the durable tasks' overhead.
 */
import { type Job, Worker } from 'bullmq';
import { envOf, fail, tell } from './shared';
import { bullConnection } from './bull-connection';

async function main(): Promise<void> {
  const steps = Number(envOf('BENCH_STEPS'));
  const worker = new Worker(
    envOf('BENCH_QUEUE'),
    async (job: Job): Promise<{ steps: number }> => {
      for (let i = 1; i <= steps; i++) await job.updateProgress({ i });
      return { steps };
    },
    {
      connection: bullConnection(),
      prefix: envOf('BENCH_BULL_PREFIX'),
      concurrency: Number(envOf('BENCH_CONCURRENCY')),
    },
  );
  worker.on('error', (err) => console.error(`plain worker ${process.pid}: ${err.message}`));
  await worker.waitUntilReady();
  process.once('SIGTERM', () => void worker.close().finally(() => process.exit(0)));
  tell({ type: 'ready' });
}

main().catch(fail);
