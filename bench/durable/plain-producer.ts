/**
 * The `plain-bullmq` contender's producer: `queue.add()` of each job (closed loop, at most
 * `window` jobs in flight) and one `QueueEvents` reading the queue's events stream from its
 * start. Start-to-first-event = the `add()` call to the job's first `progress` seen by
 * QueueEvents; the end = its `completed`. Exact = `steps` progress values `{ i }` in order,
 * then one `completed`, and nothing else for the job (no `failed`, `stalled`).
 */
import { Queue, QueueEvents } from 'bullmq';
import { performance } from 'node:perf_hooks';
import { bullConnection } from './bull-connection';
import { envOf, fail, runWindowed, type StepData, type TaskRecord, tell, waitForGo } from './shared';

interface JobWatch {
  startedAt: number;
  firstAt?: number;
  steps: number[];
  completed: number;
  other: string[];
  done?: () => void;
}

async function main(): Promise<void> {
  const connection = bullConnection();
  const prefix = envOf('BENCH_BULL_PREFIX');
  const name = envOf('BENCH_QUEUE');
  const queue = new Queue(name, { connection, prefix });
  // From the start of the (new) events stream, so no event is missed before the first XREAD.
  const events = new QueueEvents(name, { connection, prefix, lastEventId: '0-0' });
  const watches = new Map<string, JobWatch>();
  events.on('progress', ({ jobId, data }) => {
    const watch = watches.get(jobId);
    if (!watch) return;
    watch.firstAt ??= performance.now();
    watch.steps.push((data as StepData).i);
  });
  events.on('completed', ({ jobId }) => {
    const watch = watches.get(jobId);
    if (!watch) return;
    watch.completed++;
    watch.done?.();
  });
  for (const other of ['failed', 'stalled', 'retries-exhausted'] as const) {
    events.on(other, ({ jobId }: { jobId: string }) => watches.get(jobId)?.other.push(other));
  }
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
  tell({ type: 'ready' });

  const go = await waitForGo();
  const run = (index: number): Promise<TaskRecord> => {
    const jobId = `b${go.firstTask + index}`;
    const watch: JobWatch = { startedAt: performance.now(), steps: [], completed: 0, other: [] };
    watches.set(jobId, watch);
    const ended = new Promise<void>((resolve) => (watch.done = resolve));
    let startCallMs = NaN;
    return queue
      .add('bench', { steps: go.steps }, { jobId })
      .then(() => (startCallMs = performance.now() - watch.startedAt))
      .then(() => ended)
      .then(() => ({
        startCallMs,
        firstEventMs: (watch.firstAt ?? NaN) - watch.startedAt,
        endMs: performance.now() - watch.startedAt,
      }));
  };
  const done = await runWindowed(go.tasks, go.window, run);
  // Late duplicates (a second completed, a stall) would show up by now.
  await new Promise((resolve) => setTimeout(resolve, 200));
  let index = 0;
  for (const watch of watches.values()) {
    const record = done.records[index++];
    if (!record) continue;
    const inOrder = watch.steps.length === go.steps && watch.steps.every((i, k) => i === k + 1);
    if (!inOrder) record.problem = `progress ${watch.steps.join(',')}`;
    else if (watch.completed !== 1) record.problem = `${watch.completed} completed`;
    else if (watch.other.length > 0) record.problem = watch.other.join(',');
  }
  tell(done);
  // Stays up until the harness read its CPU time and sends SIGTERM.
  process.once(
    'SIGTERM',
    () => void Promise.all([events.close(), queue.close()]).finally(() => process.exit(0)),
  );
}

main().catch(fail);
