import type { Logger, MessageEvent } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Subscriber } from 'rxjs';
import { END_EVENT } from '../sse-resume.constants';
import type { FrameSink } from '../interfaces/frame-sink.interface';
import type { AuthorizedStream, StreamOptions } from '../interfaces/stream-options.interface';
import type { TaskStore } from '../interfaces/task-store.interface';
import { readHistoryChunk, type ReplayChunk } from './history-reader';
import { MessageOutput } from './message-output';
import { type OpenMessage, SUBSCRIPTION_HANDLE } from './open-message';
import { SinkOutput } from './sink-output';
import { type EventBatch, openMessage } from './sse-frames';
import type { SubscriberOutput } from './subscriber-output';
import { errorStack, errorText, logRecord } from '../log-record';
import type { SseResumeMetrics } from '../metrics/sse-resume-metrics';

function noop(): void {}

/** What a subscription needs from the service. */
export interface SubscriptionContext {
  readonly store: TaskStore;
  readonly logger: Logger;
  /** Replays, gaps and resumes are counted here (none when absent). */
  readonly metrics?: SseResumeMetrics;
  readonly retryMs: number;
  readonly replayChunk: number;
  /** Largest replay write, in characters, before waiting for the socket to drain. */
  readonly replayWriteChars: number;
  /**
   * Most bytes of live events held while the replay runs; past it they are dropped and read
   * from history instead, so a client that stops reading mid-replay holds no growing memory.
   */
  readonly maxPendingLiveBytes?: number;
  /** Checks the key and resume point (typed errors) and returns the task and where to resume. */
  authorize(subscription: TaskSubscription): Promise<AuthorizedStream>;
  /** Registers the subscription for live events of its task; resolves once they flow. */
  join(subscription: TaskSubscription): Promise<() => void>;
}

type State = 'opening' | 'replaying' | 'live' | 'closed';

/**
 * One subscriber of one task, deciding what to send: checks access, subscribes to live
 * events, replays history from the resume point, then goes live, dropping duplicates by id
 * and sending gaps, heartbeats and the end. How it goes out is its {@link SubscriberOutput}:
 * Nest `MessageEvent`s, or, once `SseResumeInterceptor` attached a {@link FrameSink}, frames
 * written to it.
 */
export class TaskSubscription {
  private state: State = 'opening';
  /** Id of the last event (or gap end) this subscriber was given. */
  private lastSent = 0;
  private pendingLive: EventBatch[] = [];
  private pendingLiveBytes = 0;
  /** Live events were dropped during the replay: the replay reads on until it has them. */
  private pendingLiveDropped = false;
  /** Nest messages until the interceptor attaches a sink, on the open message. */
  private output: SubscriberOutput;
  private leave: (() => void) | undefined;
  /** The open frame (resume point + retry) went out: heartbeats may follow, never precede it. */
  private opened = false;
  /**
   * Nest may have sent the response head: a failure can no longer be answered with its HTTP
   * status, and handed to Nest it would become an `event: error` frame with an `id` of Nest's
   * own counter (which would move the client's resume point). See {@link start}.
   */
  private headMayBeOut = false;
  private headTimer: NodeJS.Timeout | undefined;
  /** True only while the open message is being handed to `rx.next` (see attachSink). */
  private acceptingSink = false;
  private generatedId: string | undefined;
  /** A sink owns the response (see attachSink): unsubscribing the Observable no longer closes this. */
  private detached = false;

  constructor(
    readonly taskId: string,
    /** Given by the client, or `undefined`: a random one is made when first asked for. */
    private readonly givenId: string | undefined,
    private readonly context: SubscriptionContext,
    /** The handler's subscriber; dropped once a sink owns the response. */
    private rx: Subscriber<MessageEvent> | undefined,
    /** What the stream was opened with (key, resume point), for the context's `authorize`; let go once open. */
    public options?: StreamOptions,
    /** Access already checked for this very stream (by the `@SseResume()` guard): not asked again. */
    private authorized?: AuthorizedStream,
    /**
     * No response head goes out before the open message (`SseResumeInterceptor` on a route it
     * claimed writes it then): every failure before it gets its HTTP status.
     */
    private readonly headHeld = false,
  ) {
    this.output = new MessageOutput(rx!, this);
  }

  get subscriberId(): string {
    return this.givenId ?? (this.generatedId ??= randomUUID());
  }

  get closed(): boolean {
    return this.state === 'closed';
  }

  /**
   * Runs the subscription; never rejects. A failure before the response head goes to
   * `rx.error` (Nest answers with its status); any later one is logged and ends the stream
   * without a frame, so the client resumes from its real last id.
   */
  async start(): Promise<void> {
    // Nest commits the head from a setTimeout(0) armed right after it subscribed. When the
    // handler has no interceptor Nest subscribes here synchronously, so this timer runs just
    // before Nest's: once it ran, the head is out or about to be. Behind an interceptor the
    // subscription comes a microtask later and Nest's timer runs first; `@SseResume()`'s
    // interceptor then checks `headersSent` itself, but a plain `@Sse()` route behind another
    // (e.g. global) interceptor keeps a window of one microtask turn in which a failure still
    // reaches Nest (see sse-resume.interceptor.spec.ts, "Nest's @Sse() pipeline"). On a route
    // the interceptor claimed, no head goes out before the open message: no timer at all.
    if (!this.headHeld) {
      this.headTimer = setTimeout(() => {
        this.headTimer = undefined;
        this.headMayBeOut = true;
      }, 0);
    }
    let resumePoint: number;
    try {
      ({ resumePoint } = this.authorized ?? (await this.context.authorize(this)));
      if (this.closed) return;
      this.lastSent = resumePoint;
      this.state = 'replaying';
      const leave = await this.context.join(this);
      if (this.closed) {
        leave();
        return;
      }
      this.leave = leave;
    } catch (err) {
      if (!this.closed) this.failBeforeOpen(err);
      return;
    }

    const open: OpenMessage<TaskSubscription> = {
      ...openMessage(resumePoint, this.context.retryMs),
      [SUBSCRIPTION_HANDLE]: this,
    };
    this.opened = true;
    this.clearHeadTimer();
    if (this.options?.lastEventId !== undefined) this.context.metrics?.streamResumed();
    // Not needed any more; an idle stream keeps as little as it can (issue 14).
    this.options = undefined;
    this.authorized = undefined;
    // The interceptor may call attachSink() right here, and only here: an operator between
    // stream() and the interceptor that delays the message (observeOn, delay) would hand the
    // sink over after output went to Nest, so it is refused then and Nest writes everything.
    this.acceptingSink = true;
    try {
      this.rx!.next(open);
    } finally {
      this.acceptingSink = false;
    }
    this.output.opened(resumePoint, this.context.retryMs);

    try {
      await this.replay();
    } catch (err) {
      // After the first message no status can be sent: end the stream so the client resumes.
      this.context.logger.error(
        logRecord('stream failed during replay; ending it so the client resumes', {
          taskId: this.taskId,
          subscriberId: this.subscriberId,
          error: errorText(err),
        }),
        errorStack(err),
      );
      this.end();
    }
  }

  /**
   * Called by `SseResumeInterceptor` while it handles the open message. Returns false (and
   * changes nothing) when the message reached it later than that: the stream then goes on
   * through Nest's writer. A sink that `ownsResponse` ends the response itself and closes
   * this subscription when the connection closes: the handler's subscriber (and the chain of
   * Nest's pipeline behind it) is let go, and unsubscribing it no longer closes this.
   */
  attachSink(sink: FrameSink, ownsResponse = false): boolean {
    if (!this.acceptingSink || this.state !== 'replaying' || this.output instanceof SinkOutput) return false;
    if (ownsResponse) {
      this.rx = undefined;
      this.detached = true;
    }
    this.output = new SinkOutput(sink, this.rx, this.context.replayWriteChars, this);
    return true;
  }

  /** The handler's Observable was unsubscribed: closes this, unless a sink owns the response. */
  unsubscribed(): void {
    if (!this.detached) this.close();
  }

  /** A turn's worth of live events of the task (from the hub). */
  deliver(batch: EventBatch): void {
    if (this.state === 'replaying') {
      this.pendingLive.push(batch);
      for (const event of batch.events) this.pendingLiveBytes += event.size;
      const max = this.context.maxPendingLiveBytes;
      if (max !== undefined && this.pendingLiveBytes > max) {
        this.pendingLive = [];
        this.pendingLiveBytes = 0;
        this.pendingLiveDropped = true;
      }
    } else if (this.state === 'live') {
      this.deliverLive(batch);
    }
  }

  /** Called by the hub's ticker twice per heartbeat period; writes one if nothing went out since. */
  heartbeat(): void {
    if (!this.opened || (this.state !== 'live' && this.state !== 'replaying')) return;
    this.output.heartbeat();
  }

  /** Ends the stream without a terminal event (shutdown, store failure): the client resumes. */
  end(): void {
    this.finish();
  }

  /** Releases everything; called when the client goes away (unsubscribe) or after the end. */
  close(): void {
    if (this.closed) return;
    this.state = 'closed';
    this.clearHeadTimer();
    this.pendingLive = [];
    this.pendingLiveBytes = 0;
    const leave = this.leave;
    this.leave = undefined;
    leave?.();
  }

  /**
   * Opening failed (authorization, store, join). Before the head Nest can still answer with
   * the error's status; after it, only an end without a frame keeps the client's resume point.
   */
  private failBeforeOpen(err: unknown): void {
    if (!this.headMayBeOut) {
      this.state = 'closed';
      this.clearHeadTimer();
      this.rx?.error(err);
      return;
    }
    this.context.logger.error(
      logRecord(
        'stream failed after the response head, before its first event; ending it so the client resumes',
        { taskId: this.taskId, subscriberId: this.subscriberId, error: errorText(err) },
      ),
      errorStack(err),
    );
    this.finish();
  }

  private clearHeadTimer(): void {
    if (this.headTimer === undefined) return;
    clearTimeout(this.headTimer);
    this.headTimer = undefined;
  }

  private async replay(): Promise<void> {
    let reading = this.readChunk(this.lastSent);
    for (;;) {
      const chunk = await reading;
      if (this.closed) return;
      if (chunk.firstEventId > this.lastSent + 1) this.sendGap(chunk.firstEventId - 1);
      if (chunk.more) {
        // Read the next chunk while this one is written (a round trip saved per chunk with Redis).
        reading = this.readChunk(chunk.lastId);
        reading.catch(noop); // awaited below, unless the stream ends first
      }
      if (chunk.count > 0) {
        if (chunk.text !== undefined) this.output.replayText(chunk.text);
        else await this.output.replayEvents(chunk.events!);
        this.lastSent = chunk.lastId;
        this.context.metrics?.eventsReplayed(chunk.count);
        if (this.closed) return;
        if (chunk.ended) return this.finish();
      }
      if (!chunk.more) {
        if (!this.pendingLiveDropped) break;
        this.pendingLiveDropped = false; // they are in history (or the store reports a gap)
        reading = this.readChunk(this.lastSent);
        continue;
      }
      await this.output.pause();
      if (this.closed) return;
    }
    this.state = 'live';
    const pending = this.pendingLive;
    this.pendingLive = [];
    this.pendingLiveBytes = 0;
    for (const batch of pending) {
      if (this.state !== 'live') return;
      this.deliverLive(batch);
    }
  }

  private deliverLive(batch: EventBatch): void {
    if (batch.lastId <= this.lastSent) return;
    if (batch.firstId > this.lastSent + 1) {
      // Cannot happen while stores keep their contract; never hide it if it does.
      this.context.logger.error(
        logRecord('live events jump; sending a gap', {
          taskId: this.taskId,
          subscriberId: this.subscriberId,
          lastSentId: this.lastSent,
          nextId: batch.firstId,
        }),
      );
      this.sendGap(batch.firstId - 1);
    }
    this.output.batch(batch, this.lastSent + 1 - batch.firstId);
    this.lastSent = batch.lastId;
    if (batch.events[batch.events.length - 1]!.type === END_EVENT) this.finish();
  }

  /** The history after `afterId`, as SSE text when the output writes text (see readHistoryChunk). */
  private readChunk(afterId: number): Promise<ReplayChunk> {
    const { store, replayChunk, replayWriteChars } = this.context;
    const options = { asFrames: this.output.writesText, limit: replayChunk, maxChars: replayWriteChars };
    return readHistoryChunk(store, this.taskId, afterId, options);
  }

  private sendGap(to: number): void {
    this.context.metrics?.gapSent();
    this.output.gap(this.lastSent + 1, to);
    this.lastSent = to;
  }

  /** Completes the Observable (Nest then ends the response) once the output has written everything. */
  private finish(): void {
    if (this.closed) return;
    this.close();
    this.output.complete();
  }
}
