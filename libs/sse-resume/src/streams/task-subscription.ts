import type { Logger, MessageEvent } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Subscriber } from 'rxjs';
import { END_EVENT } from '../sse-resume.constants';
import type { FrameSink } from '../interfaces/frame-sink.interface';
import type { AuthorizedStream, StreamOptions } from '../interfaces/stream-options.interface';
import type { TaskStore } from '../interfaces/task-store.interface';
import { readHistoryChunk, type ReplayChunk } from './history-reader';
import {
  EventBatch,
  framesOf,
  gapFrame,
  gapMessage,
  HEARTBEAT_FRAME,
  HEARTBEAT_MESSAGE,
  openFrame,
  openMessage,
} from './sse-frames';
import type { TaskEvent } from '../task-event';

function noop(): void {}

/**
 * Marks the first message of a library stream; the interceptor uses it to take over writing.
 * Why a message: it is a real one (the resume point and `retry:`), so without the interceptor
 * Nest writes it as the stream's first frame, and with it the interceptor keeps it back and
 * attaches a sink (Nest writes only what an interceptor passes on: pinned in
 * sse-resume.interceptor.spec.ts). One path for both, and nothing looked up per request.
 */
export const SUBSCRIPTION_HANDLE = Symbol('sse-resume.subscription');

/** The first message of a stream, carrying the subscription for `SseResumeInterceptor`. */
export interface OpenMessage extends MessageEvent {
  [SUBSCRIPTION_HANDLE]: TaskSubscription;
}

/** What a subscription needs from the service. */
export interface SubscriptionContext {
  readonly store: TaskStore;
  readonly logger: Logger;
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
 * One subscriber of one task: checks access, subscribes to live events, replays history
 * from the resume point, then goes live, dropping duplicates by id. Emits Nest
 * `MessageEvent`s, or, once `SseResumeInterceptor` attached a {@link FrameSink}, writes
 * the frames itself (shared per-turn buffers, backpressure-aware replay).
 */
export class TaskSubscription {
  private state: State = 'opening';
  /** Id of the last event (or gap end) this subscriber was given. */
  private lastSent = 0;
  private pendingLive: EventBatch[] = [];
  private pendingLiveBytes = 0;
  /** Live events were dropped during the replay: the replay reads on until it has them. */
  private pendingLiveDropped = false;
  private sink: FrameSink | undefined;
  private leave: (() => void) | undefined;
  private wroteSinceTick = false;
  /** The open frame (resume point + retry) went out: heartbeats may follow, never precede it. */
  private opened = false;
  /**
   * Nest may have sent the response head: a failure can no longer be answered with its HTTP
   * status, and handed to Nest it would become an `event: error` frame with an `id` of Nest's
   * own counter (which would move the client's resume point). See {@link start}.
   */
  private headMayBeOut = false;
  private headTimer: NodeJS.Timeout | undefined;

  private generatedId: string | undefined;

  constructor(
    readonly taskId: string,
    /** Given by the client, or `undefined`: a random one is made when first asked for. */
    private readonly givenId: string | undefined,
    private readonly context: SubscriptionContext,
    private readonly rx: Subscriber<MessageEvent>,
    /** What the stream was opened with (key, resume point), for the context's `authorize`. */
    readonly options?: StreamOptions,
    /** Access already checked for this very stream (by the `@SseResume()` guard): not asked again. */
    private readonly authorized?: AuthorizedStream,
  ) {}

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
    // reaches Nest (see sse-resume.interceptor.spec.ts, "Nest's @Sse() pipeline").
    this.headTimer = setTimeout(() => {
      this.headTimer = undefined;
      this.headMayBeOut = true;
    }, 0);
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

    const open: OpenMessage = {
      ...openMessage(resumePoint, this.context.retryMs),
      [SUBSCRIPTION_HANDLE]: this,
    };
    this.opened = true;
    this.clearHeadTimer();
    this.wroteSinceTick = true;
    this.rx.next(open); // the interceptor may call attachSink() right here
    if (this.sink) this.write(openFrame(resumePoint, this.context.retryMs));

    try {
      await this.replay();
    } catch (err) {
      // After the first message no status can be sent: end the stream so the client resumes.
      this.context.logger.error(
        `stream of task ${this.taskId} failed during replay; ending it so the client resumes`,
        err instanceof Error ? err.stack : String(err),
      );
      this.end();
    }
  }

  /** Called by `SseResumeInterceptor` while it handles the open message. */
  attachSink(sink: FrameSink): void {
    if (this.state !== 'replaying' || this.sink) throw new Error('a sink can only be attached on open');
    this.sink = sink;
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
    if (this.wroteSinceTick) {
      this.wroteSinceTick = false;
      return;
    }
    if (this.sink) this.write(HEARTBEAT_FRAME);
    else this.rx.next(HEARTBEAT_MESSAGE);
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
    this.sink = undefined;
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
      this.rx.error(err);
      return;
    }
    this.context.logger.error(
      `stream of task ${this.taskId} failed after the response head, before its first event; ` +
        'ending it so the client resumes',
      err instanceof Error ? err.stack : String(err),
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
        if (chunk.text !== undefined) {
          this.write(chunk.text);
          this.lastSent = chunk.lastId;
        } else {
          await this.sendReplay(chunk.events!);
        }
        if (this.closed) return;
        if (chunk.ended) return this.finish();
      }
      if (!chunk.more) {
        if (!this.pendingLiveDropped) break;
        this.pendingLiveDropped = false; // they are in history (or the store reports a gap)
        reading = this.readChunk(this.lastSent);
        continue;
      }
      await this.pause();
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
        `task ${this.taskId}: live events jump from ${this.lastSent} to ${batch.firstId}; sending a gap`,
      );
      this.sendGap(batch.firstId - 1);
    }
    const events = batch.events;
    const from = this.lastSent + 1 - batch.firstId;
    if (this.sink) {
      this.write(from === 0 ? batch.buffer : framesOf(events, from));
    } else {
      for (let i = from; i < events.length && !this.closed; i++) this.rx.next(events[i]!);
      this.wroteSinceTick = true;
    }
    this.lastSent = batch.lastId;
    if (events[events.length - 1]!.type === END_EVENT) this.finish();
  }

  /** The history after `afterId`, as SSE text when writing to a sink (see readHistoryChunk). */
  private readChunk(afterId: number): Promise<ReplayChunk> {
    const { store, replayChunk, replayWriteChars } = this.context;
    return readHistoryChunk(store, this.taskId, afterId, {
      asFrames: this.sink !== undefined,
      limit: replayChunk,
      maxChars: replayWriteChars,
    });
  }

  /** Replays events, in writes of bounded size that wait for the socket to drain. */
  private async sendReplay(events: readonly TaskEvent[]): Promise<void> {
    if (!this.sink) {
      for (const event of events) {
        if (this.closed) return;
        this.rx.next(event);
      }
      this.wroteSinceTick = true;
      this.lastSent = events[events.length - 1]!.seq;
      return;
    }
    let text = '';
    for (const event of events) {
      text += event.frame;
      this.lastSent = event.seq;
      if (text.length >= this.context.replayWriteChars) {
        this.write(text);
        text = '';
        await this.pause();
        if (this.closed) return;
      }
    }
    if (text) this.write(text);
  }

  private sendGap(to: number): void {
    const from = this.lastSent + 1;
    if (this.sink) this.write(gapFrame(from, to));
    else this.rx.next(gapMessage(from, to));
    this.wroteSinceTick = true;
    this.lastSent = to;
  }

  private write(chunk: string | Buffer): void {
    this.wroteSinceTick = true;
    // A sink that refuses (connection gone or dropped as too slow) ends the subscription.
    if (!this.sink!.write(chunk)) this.end();
  }

  /** Waits for the client (sink) or at least one turn of the event loop (Nest pipeline). */
  private pause(): Promise<void> {
    if (this.sink) return this.sink.whenWritable();
    return new Promise((resolve) => setImmediate(resolve));
  }

  /** Completes the Observable (Nest then ends the response) once the sink has written everything. */
  private finish(): void {
    if (this.closed) return;
    const sink = this.sink;
    this.close();
    if (sink) void sink.flushed().then(() => this.rx.complete());
    else this.rx.complete();
  }
}
