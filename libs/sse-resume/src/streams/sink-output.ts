import type { MessageEvent } from '@nestjs/common';
import type { Subscriber } from 'rxjs';
import type { FrameSink } from '../interfaces/frame-sink.interface';
import type { TaskEvent } from '../task-event';
import { type EventBatch, framesOf, gapFrame, HEARTBEAT_FRAME, openFrame } from './sse-frames';
import type { OutputOwner, SubscriberOutput } from './subscriber-output';

/**
 * Writes a subscription's output as SSE text to the {@link FrameSink} that
 * `SseResumeInterceptor` attached: live batches as the buffer every subscriber shares,
 * replays in writes of bounded size that wait for the socket to drain.
 */
export class SinkOutput implements SubscriberOutput {
  readonly writesText = true;
  private wroteSinceTick = false;

  constructor(
    private readonly sink: FrameSink,
    /** Completed once the sink has written everything; none when the sink owns the response (it ends it). */
    private readonly rx: Subscriber<MessageEvent> | undefined,
    /** Largest replay write, in characters, before waiting for the socket to drain. */
    private readonly replayWriteChars: number,
    private readonly owner: OutputOwner,
  ) {}

  opened(resumePoint: number, retryMs: number): void {
    this.write(openFrame(resumePoint, retryMs));
  }

  batch(batch: EventBatch, from: number): void {
    if (from !== 0) return this.write(framesOf(batch.events, from));
    if (!this.sink.writeFramed) return this.write(batch.buffer);
    this.wroteSinceTick = true;
    if (!this.sink.writeFramed(batch.buffer, batch.chunk)) this.owner.end();
  }

  replayText(text: string): void {
    this.write(text);
  }

  async replayEvents(events: readonly TaskEvent[]): Promise<void> {
    let text = '';
    for (const event of events) {
      text += event.frame;
      if (text.length >= this.replayWriteChars) {
        this.write(text);
        text = '';
        if (this.owner.closed) return;
        await this.pause();
        if (this.owner.closed) return;
      }
    }
    if (text) this.write(text);
  }

  gap(from: number, to: number): void {
    this.write(gapFrame(from, to));
  }

  heartbeat(): void {
    if (this.wroteSinceTick) {
      this.wroteSinceTick = false;
      return;
    }
    this.write(HEARTBEAT_FRAME); // counts as output, like any write: the next tick writes none
  }

  pause(): Promise<void> {
    return this.sink.whenWritable();
  }

  complete(): void {
    void this.sink.flushed().then(() => (this.rx ? this.rx.complete() : this.sink.end?.()));
  }

  private write(chunk: string | Buffer): void {
    this.wroteSinceTick = true;
    // A sink that refuses (connection gone or dropped as too slow) ends the subscription.
    if (!this.sink.write(chunk)) this.owner.end();
  }
}
