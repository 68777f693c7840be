import { TaskError, type TaskContext } from '@app/sse-resume';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DemoTaskInput } from './create-task.pipe';

export interface DemoProgress {
  step: number;
  total: number;
  message: string;
  /** Durable tasks: the attempt that emitted this step (1 for the first). */
  attempt?: number;
  payload?: string;
}

/** Where the demo task resumes and how it records a step; the default is a plain task's. */
export interface DemoRun {
  /** The first step to run (a durable task's later attempt: the one after its checkpoint). Default 1. */
  firstStep?: number;
  /** Emits one step's progress (a durable task checkpoints it). Default `context.emit(progress)`. */
  report?: (progress: DemoProgress) => Promise<unknown>;
}

/**
 * Steps without a pause also yield this often. Large payloads need no help: an awaited
 * `emit()` yields by itself once a turn's events pass the library's `emitBytesPerTurn`.
 */
const YIELD_EVERY = 100;

/**
 * The demo task: `steps` progress events, one every `intervalMs`, failing at `failAt`,
 * stopping as soon as its signal is aborted (cancel, timeout, shutdown, a fenced attempt).
 */
export async function runDemoTask(
  context: TaskContext,
  options: DemoTaskInput,
  { firstStep = 1, report = (progress) => context.emit(progress) }: DemoRun = {},
): Promise<{ steps: number }> {
  const { steps, intervalMs, payloadBytes, failAt } = options;
  const payload = payloadBytes > 0 ? 'x'.repeat(payloadBytes) : undefined;
  for (let step = firstStep; step <= steps; step++) {
    if (intervalMs > 0) {
      await sleep(intervalMs, undefined, { signal: context.signal }).catch(() => undefined);
    } else if (step % YIELD_EVERY === 0) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (context.signal.aborted) return { steps: step - 1 };
    if (failAt === step) throw new TaskError(`failed at step ${step}`);
    const progress: DemoProgress = { step, total: steps, message: `step ${step} of ${steps}` };
    if (payload !== undefined) progress.payload = payload;
    await report(progress);
  }
  return { steps };
}
