import { Injectable } from '@nestjs/common';
import {
  TaskHandler,
  type DurableTaskContext,
  type DurableTaskHandler,
  type DefaultTaskEvents,
} from '@app/sse-resume';
import type { DemoTaskInput } from './create-task.pipe';
import { runDemoTask } from './demo-task';

/** Name of the demo task type (`tasks.start(DEMO_TASK, input, { durable: true })`). */
export const DEMO_TASK = 'demo';

/** What a durable demo task stores with each step: the step done. */
export interface DemoCheckpoint {
  step: number;
}

/**
 * The demo task as a durable handler: each step is a checkpoint, so an attempt that takes
 * over after a crash goes on from the step after the last one stored, not from step 1.
 * Its progress events also name the attempt that emitted them.
 */
@Injectable()
@TaskHandler(DEMO_TASK)
export class DemoTaskHandler
  implements DurableTaskHandler<DemoTaskInput, { steps: number }, DefaultTaskEvents, DemoCheckpoint>
{
  run(
    input: DemoTaskInput,
    context: DurableTaskContext<DefaultTaskEvents, DemoCheckpoint>,
  ): Promise<{ steps: number }> {
    return runDemoTask(context, input, {
      firstStep: (context.lastCheckpoint?.step ?? 0) + 1,
      report: (progress) =>
        context.checkpoint({ step: progress.step }, { ...progress, attempt: context.attempt }),
    });
  }
}
