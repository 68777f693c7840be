import { interval, of, Subject, throwError } from 'rxjs';
import type { TaskContext } from '../interfaces/task-context.interface';
import { runSource } from './task-sources';

function context(controller = new AbortController()) {
  const emitted: unknown[] = [];
  const ctx: TaskContext = {
    taskId: 't',
    signal: controller.signal,
    emit: jest.fn(async (data: unknown) => emitted.push(data)),
  };
  return { ctx, emitted, controller };
}

describe('runSource', () => {
  it('calls a function with the context and resolves to its result', async () => {
    const { ctx } = context();
    await expect(runSource(ctx, async (c) => c.taskId + '!')).resolves.toBe('t!');
  });

  it('emits each value of an Observable; its error rejects', async () => {
    const { ctx, emitted } = context();
    await runSource(ctx, of(1, 2, 3));
    expect(emitted).toEqual([1, 2, 3]);
    await expect(
      runSource(
        ctx,
        throwError(() => new Error('boom')),
      ),
    ).rejects.toThrow('boom');
  });

  it('unsubscribes from an Observable when the signal aborts, and from one whose emit throws', async () => {
    const aborted = context();
    const running = runSource(aborted.ctx, interval(1));
    aborted.controller.abort();
    // The source is dropped: the promise never settles, nothing more is emitted.
    const count = aborted.emitted.length;
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(aborted.emitted.length).toBe(count);
    void running;

    const subject = new Subject<number>();
    const throwing = context();
    (throwing.ctx.emit as jest.Mock).mockImplementation(() => {
      throw new Error('refused');
    });
    const failed = runSource(throwing.ctx, subject);
    subject.next(1);
    await expect(failed).rejects.toThrow('refused');
    expect(subject.observed).toBe(false);
  });

  it('awaits each emit of an AsyncIterable and stops at an abort', async () => {
    const { ctx, emitted, controller } = context();
    async function* values() {
      yield 'a';
      yield 'b';
      controller.abort();
      yield 'c';
    }
    await runSource(ctx, values());
    expect(emitted).toEqual(['a', 'b']);
  });
});
