import type { Logger } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import type { FrameSink } from './interfaces/frame-sink.interface';

/** How many turns to wait for Nest to send the response head before giving up. */
const MAX_HEAD_WAITS = 100;

/**
 * Writes a subscription's frames straight to the HTTP response, after Nest has sent the
 * SSE head. A client whose unsent output from earlier writes passes `maxPendingBytes` is
 * disconnected: holding more for it would let one slow reader grow the server's memory.
 */
export class ResponseSink implements FrameSink {
  /** Frames written before Nest sent the head; `undefined` once it has. */
  private beforeHead: (string | Buffer)[] | undefined;
  private headWaiters: (() => void)[] | undefined;
  /** Plain flags, kept from the response's events: its getters are slow on the hot path. */
  private dropped = false;
  private gone = false;
  private backedUp = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly maxPendingBytes: number,
    private readonly logger: Logger,
    /** Names the subscriber in log lines; only called when logging. */
    private readonly describe: () => string,
  ) {
    // Nest ends the response only after unsubscribing (then nothing writes here any more);
    // "close" covers the client going away.
    res.once('close', () => (this.gone = true));
    if (!res.headersSent) {
      this.beforeHead = [];
      this.waitForHead(0);
    }
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
    if (this.backedUp) {
      // Only a response that refused a write can hold more than its buffer's worth.
      const pending = this.res.writableLength;
      if (pending > this.maxPendingBytes) {
        this.logger.warn(
          `${this.describe()} is not reading: ${pending} bytes wait for it ` +
            `(maxPendingBytes ${this.maxPendingBytes}); disconnecting it, it can resume from history`,
        );
        this.drop();
        return false;
      }
    }
    if (!this.res.write(chunk) && !this.backedUp) {
      this.backedUp = true;
      // once: a listener per back-up would pile up on a long stream whose client lags now and then.
      this.res.once('drain', () => (this.backedUp = this.res.writableNeedDrain));
    }
    return true;
  }

  flushed(): Promise<void> {
    if (!this.beforeHead) return Promise.resolve();
    return new Promise((resolve) => (this.headWaiters ??= []).push(resolve));
  }

  whenWritable(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.beforeHead) return new Promise((resolve) => (this.headWaiters ??= []).push(resolve));
    if (!this.res.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }

  /**
   * Nest commits the SSE head from a `setTimeout(0)` armed when it subscribed, before this
   * sink existed; a timer armed now runs after it.
   */
  private waitForHead(attempt: number): void {
    setTimeout(() => {
      if (this.closed) return this.releaseHeadWaiters();
      if (!this.res.headersSent) {
        if (attempt < MAX_HEAD_WAITS) return this.waitForHead(attempt + 1);
        this.logger.error(`${this.describe()}: the SSE head was never sent; closing the connection`);
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

  private releaseHeadWaiters(): void {
    const waiters = this.headWaiters;
    this.headWaiters = undefined;
    for (const resolve of waiters ?? []) resolve();
  }

  private drop(): void {
    this.dropped = true;
    this.beforeHead = undefined;
    this.res.destroy();
  }
}
