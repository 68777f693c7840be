import { TaskError, type TaskContext } from '@app/sse-resume';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CreateTaskDto } from './create-task.pipe';

export interface DemoProgress {
  step: number;
  total: number;
  message: string;
  payload?: string;
}

/**
 * Steps without a pause also yield this often. Large payloads need no help: an awaited
 * `emit()` yields by itself once a turn's events pass the library's `emitBytesPerTurn`.
 */
const YIELD_EVERY = 100;

/**
 * The demo task: `steps` progress events, one every `intervalMs`, failing at `failAt`,
 * stopping as soon as its signal is aborted (cancel, timeout, shutdown).
 */
export async function runDemoTask(context: TaskContext, options: CreateTaskDto): Promise<{ steps: number }> {
  const { steps, intervalMs, payloadBytes, failAt } = options;
  const payload = payloadBytes > 0 ? 'x'.repeat(payloadBytes) : undefined;
  for (let step = 1; step <= steps; step++) {
    if (intervalMs > 0) {
      await sleep(intervalMs, undefined, { signal: context.signal }).catch(() => undefined);
    } else if (step % YIELD_EVERY === 0) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (context.signal.aborted) return { steps: step - 1 };
    if (failAt === step) throw new TaskError(`failed at step ${step}`);
    const progress: DemoProgress = { step, total: steps, message: `step ${step} of ${steps}` };
    if (payload !== undefined) progress.payload = payload;
    await context.emit(progress);
  }
  return { steps };
}
