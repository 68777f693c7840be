import type { MessageEvent } from '@nestjs/common';
import type { Subscriber } from 'rxjs';
import type { TaskEvent } from '../task-event';
import { type EventBatch, gapMessage, HEARTBEAT_MESSAGE } from './sse-frames';
import type { OutputOwner, SubscriberOutput } from './subscriber-output';

/**
 * Sends a subscription's output as Nest `MessageEvent`s through the handler's Observable
 * (a plain `@Sse()` route, or before `SseResumeInterceptor` attached a sink); Nest writes them.
 */
export class MessageOutput implements SubscriberOutput {
  readonly writesText = false;
  private wroteSinceTick = false;

  constructor(
    private readonly rx: Subscriber<MessageEvent>,
    private readonly owner: OutputOwner,
  ) {}

  opened(): void {
    this.wroteSinceTick = true; // Nest wrote the open message itself
  }

  batch(batch: EventBatch, from: number): void {
    const events = batch.events;
    for (let i = from; i < events.length && !this.owner.closed; i++) this.rx.next(events[i]!);
    this.wroteSinceTick = true;
  }

  replayText(): void {
    throw new Error('history is read as events when the output is Nest messages');
  }

  async replayEvents(events: readonly TaskEvent[]): Promise<void> {
    for (const event of events) {
      if (this.owner.closed) return;
      this.rx.next(event);
    }
    this.wroteSinceTick = true;
  }

  gap(from: number, to: number): void {
    this.rx.next(gapMessage(from, to));
    this.wroteSinceTick = true;
  }

  heartbeat(): void {
    if (this.wroteSinceTick) {
      this.wroteSinceTick = false;
      return;
    }
    this.rx.next(HEARTBEAT_MESSAGE);
  }

  /** Nest writes each message as it comes: one turn lets the socket and other streams move. */
  pause(): Promise<void> {
    return new Promise((resolve) => setImmediate(resolve));
  }

  complete(): void {
    this.rx.complete();
  }
}
