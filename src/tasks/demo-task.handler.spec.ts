import type { DefaultTaskEvents, DurableTaskContext } from '@app/sse-resume';
import { TaskError } from '@app/sse-resume';
import { DemoTaskHandler, type DemoCheckpoint } from './demo-task.handler';
import type { DemoProgress } from './demo-task';

/** A handler context that records checkpoints (the library's own is tested in the library). */
function context(attempt: number, lastCheckpoint: DemoCheckpoint | undefined) {
  const checkpoints: { state: DemoCheckpoint; data: DemoProgress }[] = [];
  const ctx = {
    taskId: 't',
    attempt,
    lastCheckpoint,
    signal: new AbortController().signal,
    emit: () => Promise.reject(new Error('a durable demo step is a checkpoint, not a plain emit')),
    checkpoint: (state: DemoCheckpoint, data: DemoProgress) => {
      checkpoints.push({ state, data });
      return Promise.resolve(checkpoints.length);
    },
  } as unknown as DurableTaskContext<DefaultTaskEvents, DemoCheckpoint>;
  return { ctx, checkpoints };
}

const input = { steps: 5, intervalMs: 0, payloadBytes: 0 };

describe('DemoTaskHandler', () => {
  it('attempt 1: every step is a checkpoint of that step, its progress naming the attempt', async () => {
    const { ctx, checkpoints } = context(1, undefined);
    await expect(new DemoTaskHandler().run(input, ctx)).resolves.toEqual({ steps: 5 });
    expect(checkpoints.map(({ state }) => state.step)).toEqual([1, 2, 3, 4, 5]);
    expect(checkpoints[0]!.data).toEqual({ step: 1, total: 5, message: 'step 1 of 5', attempt: 1 });
  });

  it('a later attempt goes on after the last checkpoint', async () => {
    const { ctx, checkpoints } = context(2, { step: 3 });
    await expect(new DemoTaskHandler().run(input, ctx)).resolves.toEqual({ steps: 5 });
    expect(checkpoints.map(({ data }) => [data.step, data.attempt])).toEqual([
      [4, 2],
      [5, 2],
    ]);
  });

  it('a checkpoint of the last step: nothing left to do', async () => {
    const { ctx, checkpoints } = context(3, { step: 5 });
    await expect(new DemoTaskHandler().run(input, ctx)).resolves.toEqual({ steps: 5 });
    expect(checkpoints).toEqual([]);
  });

  it('failAt throws a TaskError at that step in every attempt', async () => {
    const { ctx, checkpoints } = context(2, { step: 3 });
    await expect(new DemoTaskHandler().run({ ...input, failAt: 4 }, ctx)).rejects.toEqual(
      new TaskError('failed at step 4'),
    );
    expect(checkpoints).toEqual([]);
  });
});
