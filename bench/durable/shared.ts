/**
 * What the processes of the durable-tasks bench share: the messages between the harness and
 * its children, the per-task record and how a stream is judged exact, the closed-loop driver
 * (at most `window` tasks in flight), and percentiles.
 *
 * Every child is started with `fork()` (IPC channel): it sends `ready` once it can work, the
 * harness sends `go` to the processes that start tasks, they answer `done` with their records.
 */
import { performance } from 'node:perf_hooks';

/** `go`: start `tasks` tasks, at most `window` in flight, each emitting `steps` progress events. */
export interface GoMessage {
  type: 'go';
  tasks: number;
  window: number;
  steps: number;
  /** Non-durable runners: the index of this runner's first task (task names stay unique). */
  firstTask: number;
}

export interface ReadyMessage {
  type: 'ready';
}

export interface DoneMessage {
  type: 'done';
  /** Clock ({@link clockMs}) when the first task was started and when the last one ended. */
  startedAt: number;
  endedAt: number;
  records: TaskRecord[];
}

export interface FailedMessage {
  type: 'failed';
  message: string;
}

export type ChildMessage = ReadyMessage | DoneMessage | FailedMessage;

/** What one task looked like from the process that started and read it. */
export interface TaskRecord {
  /** ms the start call (`tasks.start` / `queue.add`) took to resolve. */
  startCallMs: number;
  /** ms from the start call (`tasks.start` / `queue.add`) to the first progress event seen. */
  firstEventMs: number;
  /** ms from the start call to the end (`end` event / `completed`). */
  endMs: number;
  /** Why the stream was not exact; undefined when it was. */
  problem?: string;
}

/** Milliseconds on a clock shared by every process of the machine (epoch origin + monotonic). */
export function clockMs(): number {
  return performance.timeOrigin + performance.now();
}

/** The progress payload of step `i` (1-based) in every contender. */
export interface StepData {
  i: number;
}

/**
 * Checks one library stream as received (open message left out): ids 1..n contiguous,
 * `steps` progress events with `i` = 1..steps in order, then exactly one `end` (completed),
 * last. Returns the problem, or undefined when exact.
 */
export function libStreamProblem(
  events: readonly { id: number; type: string; data: unknown }[],
  steps: number,
): string | undefined {
  const ids = events.map((event) => event.id);
  for (let k = 0; k < ids.length; k++) {
    if (ids[k] !== k + 1) return `ids not 1..${ids.length} contiguous: ${ids.join(',')}`;
  }
  const progress = events.filter((event) => event.type === 'progress');
  const steps_ = progress.map((event) => (event.data as StepData | null)?.i);
  if (progress.length !== steps || steps_.some((i, k) => i !== k + 1)) {
    return `progress steps ${steps_.join(',')} (expected 1..${steps})`;
  }
  const ends = events.filter((event) => event.type === 'end');
  if (ends.length !== 1 || events[events.length - 1]!.type !== 'end') {
    return `${ends.length} end events, last event ${events[events.length - 1]?.type ?? 'none'}`;
  }
  const status = (ends[0]!.data as { status?: string } | null)?.status;
  if (status !== 'completed') return `end status ${status}`;
  const others = events.filter((event) => event.type !== 'progress' && event.type !== 'end');
  if (others.length > 0) return `unexpected events: ${others.map((event) => event.type).join(',')}`;
  return undefined;
}

/**
 * Runs `total` tasks with at most `window` in flight (closed loop: a slot takes the next task
 * when its task ended). `runTask(index)` resolves with the task's record once it ended;
 * `records[index]` is task `index`'s.
 */
export async function runWindowed(
  total: number,
  window: number,
  runTask: (index: number) => Promise<TaskRecord>,
): Promise<DoneMessage> {
  const records: TaskRecord[] = [];
  let next = 0;
  const startedAt = clockMs();
  const lane = async (): Promise<void> => {
    while (next < total) {
      const index = next++;
      records[index] = await runTask(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, total) }, lane));
  return { type: 'done', startedAt, endedAt: clockMs(), records };
}

/** Sends a message to the harness (children are forked with an IPC channel). */
export function tell(message: ChildMessage): void {
  process.send?.(message);
}

/** Resolves with the harness's `go` message. */
export function waitForGo(): Promise<GoMessage> {
  return new Promise((resolve) => {
    const onMessage = (message: unknown): void => {
      if ((message as { type?: string } | null)?.type !== 'go') return;
      process.off('message', onMessage);
      resolve(message as GoMessage);
    };
    process.on('message', onMessage);
  });
}

/** Reports a failure to the harness and exits 1. */
export function fail(err: unknown): never {
  tell({ type: 'failed', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  process.exit(1);
}

/** The p-th percentile (0..100, nearest rank) of `values`; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Redis settings of a run, passed to children through the environment. */
export interface RunEnv {
  /** `redis://...` */
  REDIS_URL: string;
  /** Key prefix of the library's store keys (`<run>:<contender>:`). */
  BENCH_KEY_PREFIX: string;
  /** BullMQ prefix (`<run>-<contender>`) and queue name. */
  BENCH_BULL_PREFIX: string;
  BENCH_QUEUE: string;
  BENCH_CONCURRENCY: string;
  BENCH_STEPS: string;
  /** `1`: the handler stores a checkpoint with each step (`ctx.checkpoint`). */
  BENCH_CHECKPOINT: string;
}

/** A variable of {@link RunEnv}, required. */
export function envOf(name: keyof RunEnv): string {
  const value = process.env[name];
  if (value === undefined || value === '')
    throw new Error(`${name} is not set (started by bench/durable/run.js?)`);
  return value;
}
