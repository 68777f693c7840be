import { isObservable, type Observable, type Subscription } from 'rxjs';
import type { TaskContext, TaskFunction, TaskSource } from '../interfaces/task-context.interface';

/**
 * Runs what `start()` was given against its context: a function is called with it; each
 * value of an Observable or AsyncIterable is emitted as a `progress` event. Resolves to the
 * task's result, rejects with its error.
 */
export async function runSource(context: TaskContext, source: TaskSource): Promise<unknown> {
  if (isObservable(source)) return runObservable(context, source);
  if (isAsyncIterable(source)) return runIterable(context, source);
  return (source as TaskFunction)(context);
}

/** Pushed, so not paced: emits are not awaited (`maxUnstoredBytes` bounds them). */
function runObservable(context: TaskContext, source: Observable<unknown>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let failed = false;
    let subscription: Subscription | undefined = undefined;
    subscription = source.subscribe({
      next: (value) => {
        if (failed) return;
        try {
          void context.emit(value);
        } catch (err) {
          failed = true;
          subscription?.unsubscribe();
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      },
      error: (err: unknown) => reject(err instanceof Error ? err : new Error(String(err))),
      complete: () => resolve(),
    });
    const active = subscription;
    if (failed) active.unsubscribe();
    else {
      const stop = () => active.unsubscribe();
      context.signal.addEventListener('abort', stop, { once: true });
      active.add(() => context.signal.removeEventListener('abort', stop));
    }
  });
}

/** Pulled, so paced: each emit is awaited before the next value is asked for. */
async function runIterable(context: TaskContext, source: AsyncIterable<unknown>): Promise<void> {
  for await (const value of source) {
    if (context.signal.aborted) break;
    await context.emit(value);
  }
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator] === 'function'
  );
}
