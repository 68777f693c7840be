import { Injectable } from '@nestjs/common';
import { type DurableTaskContext, type DurableTaskHandler, TaskHandler } from '../../libs/sse-resume/src';
import type { StepData } from './shared';

export interface BenchInput {
  steps: number;
  /** Store a checkpoint with each step (`ctx.checkpoint`) instead of a plain `emit`. */
  checkpoint?: boolean;
}

/**
 * The task of the `durable` and `non-durable` contenders: `steps` progress events `{ i }`,
 * each awaited (like the plain BullMQ job's `updateProgress`), resuming after the last
 * checkpoint when there is one.
 */
@Injectable()
@TaskHandler('bench')
export class BenchHandler
  implements DurableTaskHandler<BenchInput, { steps: number }, { progress: StepData }, StepData>
{
  async run(
    input: BenchInput,
    ctx: DurableTaskContext<{ progress: StepData }, StepData>,
  ): Promise<{ steps: number }> {
    for (let i = (ctx.lastCheckpoint?.i ?? 0) + 1; i <= input.steps; i++) {
      if (input.checkpoint) await ctx.checkpoint({ i }, { i });
      else await ctx.emit({ i });
    }
    return { steps: input.steps };
  }
}
