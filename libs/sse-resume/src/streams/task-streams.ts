import type { Logger, MessageEvent } from '@nestjs/common';
import { Observable } from 'rxjs';
import { DEFAULT_REPLAY_CHUNK } from '../sse-resume.constants';
import type { TaskAccessChecker } from '../access/task-access-checker';
import type { ResolvedSseResumeOptions } from '../interfaces/sse-resume-options.interface';
import type { StreamOptions } from '../interfaces/stream-options.interface';
import type { TaskStore } from '../interfaces/task-store.interface';
import type { TaskHub } from './task-hub';
import { streamRequestHoldsHead, takeAuthorizedStream, takeStreamRequest } from './stream-request';
import { type SubscriptionContext, TaskSubscription } from './task-subscription';
import { NOOP_METRICS, type SseResumeMetrics } from '../metrics/sse-resume-metrics';

/** Replay writes of at most this many characters before waiting for the socket. */
const REPLAY_WRITE_CHARS = 256 * 1024;

/**
 * Makes the Observables that `@Sse()` handlers return: one {@link TaskSubscription} per
 * subscriber, sharing one context (no closures per stream) and this instance's hub.
 */
export class TaskStreams {
  private readonly context: SubscriptionContext;
  /** Shutdown ended every stream for the last time: streams joining later end at once. */
  private endedForGood = false;

  constructor(
    store: TaskStore,
    options: ResolvedSseResumeOptions,
    private readonly hub: TaskHub,
    access: TaskAccessChecker,
    logger: Logger,
    metrics: SseResumeMetrics = NOOP_METRICS,
  ) {
    this.context = {
      store,
      logger,
      metrics,
      retryMs: options.retryMs,
      replayChunk: store.replayChunk ?? DEFAULT_REPLAY_CHUNK,
      replayWriteChars: Math.min(REPLAY_WRITE_CHARS, Math.max(1024, options.maxPendingBytes >> 1)),
      maxPendingLiveBytes: options.maxPendingBytes,
      authorize: (subscription) =>
        access.authorizeStream(subscription.taskId, subscription.options ?? { resumeKey: undefined }),
      join: async (subscription) => {
        const leave = await this.hub.join(subscription);
        // Past the shutdown's last endAll() nothing else would end it (and it holds the HTTP server open).
        if (this.endedForGood) subscription.end();
        return leave;
      },
    };
  }

  /**
   * Called by a handler; under `@SseResume()` the request it serves carries what the guard
   * checked, so a stream of that very task, key and resume point skips checking again.
   */
  stream(taskId: string, options: StreamOptions): Observable<MessageEvent> {
    const headHeld = streamRequestHoldsHead();
    const authorized = takeAuthorizedStream(takeStreamRequest(), taskId, options);
    return new Observable<MessageEvent>((rx) => {
      const subscription = new TaskSubscription(
        taskId,
        options.subscriberId,
        this.context,
        rx,
        options,
        authorized,
        headHeld,
      );
      void subscription.start();
      return () => subscription.unsubscribed();
    });
  }

  /** Open streams on this instance. */
  get count(): number {
    return this.hub.subscriptionCount;
  }

  /** Ends every open stream without a terminal event, so clients reconnect (elsewhere). */
  endAll(): void {
    this.hub.endAll();
  }

  /** Ends every open stream, and every stream that joins from now on. */
  endForGood(): void {
    this.endedForGood = true;
    this.hub.endAll();
  }

  stop(): void {
    this.hub.stop();
  }
}
