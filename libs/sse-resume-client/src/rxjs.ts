/**
 * The RxJS binding of the client (rxjs is an optional peer).
 *
 * @module nest-sse-resume-client/rxjs
 */
import { Observable } from 'rxjs';
import type { SseResumeClient } from './client.js';
import type { StreamOptions } from './task-stream.js';
import type { AnyTaskEvents, TaskStreamEvent } from './types.js';

/**
 * The task's events as an `Observable` (entry `nest-sse-resume-client/rxjs`; rxjs is an
 * optional peer). Each subscription opens its own stream; unsubscribing closes it (the task
 * goes on). It completes after `end` (or a 204) and errors with the client's typed errors.
 */
export function taskEvents$<E = AnyTaskEvents, R = unknown>(
  client: SseResumeClient,
  taskId: string,
  options: Omit<StreamOptions, 'signal'> = {},
): Observable<TaskStreamEvent<E, R>> {
  return new Observable<TaskStreamEvent<E, R>>((subscriber) => {
    const stream = client.stream<E, R>(taskId, options);
    void (async () => {
      try {
        for await (const event of stream) {
          if (subscriber.closed) return;
          subscriber.next(event);
        }
        subscriber.complete();
      } catch (error) {
        subscriber.error(error);
      }
    })();
    return () => stream.close();
  });
}
