import type { Logger } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FrameSink } from '../interfaces/frame-sink.interface';
import { type LogFields, logRecord } from '../log-record';
import { NOOP_METRICS, type SseResumeMetrics } from '../metrics/sse-resume-metrics';

/** How many turns to wait for Nest to send the response head before giving up. */
const MAX_HEAD_WAITS = 100;

/** When a {@link ResponseSink} gives up on a client. */
export interface SinkLimits {
  /** Unsent output from earlier writes past which the client is disconnected. */
  maxPendingBytes: number;
  /** How long the response may stay backed up (no `drain`) before the client is disconnected. */
  slowConsumerTimeoutMs: number;
}

/** Names the subscriber in log lines: a function, or an object that has the fields (no closure kept). */
export type SinkSubject = (() => LogFields) | { readonly taskId: string; readonly subscriberId: string };

/** The subscription a sink that owns its response releases when the connection closes. */
export interface SinkOwner {
  close(): void;
}

/**
 * Writes a subscription's frames straight to the HTTP response, after Nest (or, when the
 * sink owns the response, `SseResumeInterceptor`) has sent the SSE head. A client is disconnected (it can resume from history) when its unsent output
 * from earlier writes passes `maxPendingBytes`, or when its response has not drained for
 * `slowConsumerTimeoutMs`: holding more, or holding on, for it would let readers that stall
 * keep memory and subscriber slots for as long as they like.
 */
export class ResponseSink implements FrameSink {
  /** Frames written before Nest sent the head; `undefined` once it has. */
  private beforeHead: (string | Buffer)[] | undefined;
  private headWaiters: (() => void)[] | undefined;
  /** Plain flags, kept from the response's events: its getters are slow on the hot path. */
  private dropped = false;
  private gone = false;
  private backedUp = false;
  /** Runs out when a backed-up response has not drained in time; only `drain` stops it. */
  private stallTimer: NodeJS.Timeout | undefined;
  /** Unsent bytes when the stall timer was armed (an ended response may still be draining). */
  private pendingAtArm = 0;

  constructor(
    private readonly res: ServerResponse,
    private readonly limits: SinkLimits,
    private readonly logger: Logger,
    /** Names the subscriber in log lines (`taskId`, `subscriberId`); only read when logging. */
    private readonly subject: SinkSubject,
    private readonly metrics: SseResumeMetrics = NOOP_METRICS,
    /**
     * Given when the sink owns the response (a route `@SseResume()` claimed): its head is
     * written right after the sink is attached, {@link end} ends it, and the owner is closed
     * when the connection closes (nothing of Nest watches it any more).
     */
    private readonly owner?: SinkOwner,
  ) {
    // Nest ends the response only after unsubscribing (then nothing writes here any more);
    // "close" covers the client going away.
    // `on`, not `once`: "close" comes once, and `once` would keep a wrapper per response.
    res.on('close', () => {
      this.gone = true;
      this.clearStallTimer();
      this.owner?.close();
    });
    if (!owner && !res.headersSent) {
      this.beforeHead = [];
      this.waitForHead(0);
    }
  }

  /**
   * The response answers with an error instead (Nest sends it when the stream fails before
   * the head): drop what waits for the head and write nothing more, without closing it.
   */
  abandon(): void {
    this.dropped = true;
    this.beforeHead = undefined;
    this.releaseHeadWaiters();
  }

  /** Ends the response (a sink that owns it; the stream is over and everything was written). */
  end(): void {
    if (!this.closed) this.res.end();
  }

  get closed(): boolean {
    return this.dropped || this.gone;
  }

  write(chunk: string | Buffer): boolean {
    if (this.dropped || this.gone) return false;
    if (this.beforeHead) {
      this.beforeHead.push(chunk);
      return true;
    }
    if (!this.withinLimits()) return false;
    // A write to a backed-up response (a heartbeat, a live event) is no progress: the stall
    // timer runs on until the response drains.
    if (!this.res.write(chunk)) this.backUp();
    return true;
  }

  /**
   * A live batch: its ready HTTP chunk goes straight to the socket when the response is
   * chunked and its head is out (one write of a buffer every subscriber shares, instead of
   * the response framing it again), else `frames` through the response.
   */
  writeFramed(frames: Buffer, chunk: Buffer): boolean {
    if (this.dropped || this.gone) return false;
    const socket = this.beforeHead ? undefined : (this.direct ??= directSocket(this.res));
    if (!socket) return this.write(frames);
    if (!this.withinLimits()) return false;
    if (!socket.write(chunk)) this.backUp();
    return true;
  }

  /** The socket written directly once it was found suitable ({@link directSocket}). */
  private direct: Socket | undefined;

  /** False (and the client disconnected) once a backed-up response holds more than maxPendingBytes. */
  private withinLimits(): boolean {
    if (this.backedUp) {
      // Only a response that refused a write can hold more than its buffer's worth.
      const pending = this.res.writableLength;
      if (pending > this.limits.maxPendingBytes) {
        this.logger.warn(
          logRecord(
            'subscriber is not reading (maxPendingBytes); disconnecting it, it can resume from history',
            {
              ...this.describe(),
              pendingBytes: pending,
              maxPendingBytes: this.limits.maxPendingBytes,
            },
          ),
        );
        this.metrics.subscriberDropped('slow');
        this.drop();
        return false;
      }
    }
    return true;
  }

  /** The response or its socket (written directly) refused data. */
  private get needsDrain(): boolean {
    return this.res.writableNeedDrain || this.direct?.writableNeedDrain === true;
  }

  flushed(): Promise<void> {
    if (!this.beforeHead) return Promise.resolve();
    return new Promise((resolve) => (this.headWaiters ??= []).push(resolve));
  }

  whenWritable(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.beforeHead) return new Promise((resolve) => (this.headWaiters ??= []).push(resolve));
    if (!this.needsDrain) return Promise.resolve();
    this.backUp(); // e.g. backed up by the frames held for the head: the wait is bounded too
    const socket = this.direct;
    return new Promise((resolve) => {
      const done = () => {
        this.res.off('drain', done);
        this.res.off('close', done);
        socket?.off('drain', done);
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
      socket?.on('drain', done);
    });
  }

  /**
   * Nest commits the SSE head from a `setTimeout(0)` armed when it subscribed, before this
   * sink existed; a timer armed now runs after it (pinned in sse-resume.interceptor.spec.ts),
   * so the first wait normally finds the head sent. Nest offers no event for its head, and
   * wrapping `writeHead` would patch its internals; the further waits only cover a head that
   * is late for another reason, and give up after `MAX_HEAD_WAITS`.
   */
  private waitForHead(attempt: number): void {
    setTimeout(() => {
      if (this.closed) return this.releaseHeadWaiters();
      if (!this.res.headersSent) {
        if (attempt < MAX_HEAD_WAITS) return this.waitForHead(attempt + 1);
        this.logger.error(logRecord('the SSE head was never sent; closing the connection', this.describe()));
        this.drop();
        return this.releaseHeadWaiters();
      }
      const queued = this.beforeHead!;
      this.beforeHead = undefined;
      if (queued.length > 0) {
        this.res.cork();
        for (const chunk of queued) this.res.write(chunk);
        process.nextTick(() => this.res.uncork());
      }
      this.releaseHeadWaiters();
    }, 0);
  }

  /** The response refused data: wait for `drain`, for at most slowConsumerTimeoutMs. */
  private backUp(): void {
    if (this.backedUp) return;
    this.backedUp = true;
    // Made on the first back-up only (most streams never back up, and keep no closure for it),
    // and added once to each emitter: a listener per back-up would pile up on a long stream.
    if (!this.drainListener) {
      this.drainListener = () => this.onDrain();
      this.res.on('drain', this.drainListener);
    }
    if (this.direct && !this.drainsDirect) {
      // Direct writes make the socket drain without the response telling.
      this.drainsDirect = true;
      this.direct.on('drain', this.drainListener);
    }
    this.armStallTimer();
  }

  private drainListener: (() => void) | undefined;
  private drainsDirect = false;

  private onDrain(): void {
    if (!this.backedUp) return;
    this.backedUp = false;
    this.clearStallTimer();
    if (this.needsDrain) this.backUp();
  }

  private armStallTimer(): void {
    this.clearStallTimer();
    this.pendingAtArm = this.res.writableLength;
    this.stallTimer = setTimeout(() => this.onStall(), this.limits.slowConsumerTimeoutMs);
    this.stallTimer.unref();
  }

  private onStall(): void {
    this.stallTimer = undefined;
    if (this.closed) return;
    const pending = this.res.writableLength;
    // An ended response emits no more `drain`; while its client still takes the rest, let it.
    if (this.res.writableEnded && pending < this.pendingAtArm) return this.armStallTimer();
    if (pending === 0 && !this.needsDrain) {
      // Everything went out without a `drain` (e.g. after the end): nothing is stalled.
      this.backedUp = false;
      return;
    }
    this.logger.warn(
      logRecord(
        'subscriber has not read (slowConsumerTimeoutMs); disconnecting it, it can resume from history',
        {
          ...this.describe(),
          pendingBytes: pending,
          slowConsumerTimeoutMs: this.limits.slowConsumerTimeoutMs,
        },
      ),
    );
    this.metrics.subscriberDropped('stalled');
    this.drop();
  }

  private clearStallTimer(): void {
    if (this.stallTimer === undefined) return;
    clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
  }

  private releaseHeadWaiters(): void {
    const waiters = this.headWaiters;
    this.headWaiters = undefined;
    for (const resolve of waiters ?? []) resolve();
  }

  private drop(): void {
    this.dropped = true;
    this.clearStallTimer();
    this.beforeHead = undefined;
    this.res.destroy();
  }

  private describe(): LogFields {
    const subject = this.subject;
    return typeof subject === 'function'
      ? subject()
      : { taskId: subject.taskId, subscriberId: subject.subscriberId };
  }
}

/**
 * The response's socket, when chunks may be written to it directly: HTTP/1.1 chunked
 * encoding, the head already on the wire, and the socket serving this response (not one
 * queued behind another). Writes then keep their order with the response's own: both go to
 * the socket's queue, the response framing its chunks the same way.
 */
export function directSocket(res: ServerResponse): Socket | undefined {
  const response = res as ServerResponse & { chunkedEncoding?: boolean; _headerSent?: boolean };
  const socket = res.socket;
  if (!socket || socket.destroyed || (socket as { _httpMessage?: unknown })._httpMessage !== res)
    return undefined;
  if (response.chunkedEncoding !== true || response._headerSent !== true || res.writableEnded)
    return undefined;
  return socket;
}
