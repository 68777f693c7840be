import type { MessageEvent } from '@nestjs/common';
import { GAP_EVENT } from '../sse-resume.constants';
import type { TaskEvent } from '../task-event';

/**
 * First frame of every stream: `id:` repeats the resume point (so the browser's
 * `lastEventId` is right even before the first event) and `retry:` sets its reconnect delay.
 */
export function openFrame(resumePoint: number, retryMs: number): string {
  return `id: ${resumePoint}\nretry: ${retryMs}\n\n`;
}

export function openMessage(resumePoint: number, retryMs: number): MessageEvent {
  return { id: String(resumePoint), retry: retryMs };
}

/** In-band notice that events `from`..`to` (inclusive) are no longer in history. */
export function gapData(from: number, to: number): string {
  return JSON.stringify({ from, to });
}

export function gapFrame(from: number, to: number): string {
  return `event: ${GAP_EVENT}\nid: ${to}\ndata: ${gapData(from, to)}\n\n`;
}

export function gapMessage(from: number, to: number): MessageEvent {
  return { type: GAP_EVENT, id: String(to), data: gapData(from, to) };
}

/** Comment-only frame: keeps proxies from closing an idle stream and consumes no id. */
export const HEARTBEAT_FRAME = ': ping\n\n';
export const HEARTBEAT_MESSAGE: MessageEvent = Object.freeze({ comment: 'ping' });

/** SSE text of consecutive events, joined once. */
export function framesOf(events: readonly TaskEvent[], from = 0): string {
  let text = '';
  for (let i = from; i < events.length; i++) text += events[i]!.frame;
  return text;
}

/**
 * The events of one task that arrived in one turn of the event loop. Every subscriber of
 * the task gets the same batch, and those that need all of it write the same bytes:
 * joined and encoded once per batch, not once per subscriber.
 */
export class EventBatch {
  private cachedBuffer: Buffer | undefined;

  constructor(readonly events: readonly TaskEvent[]) {}

  get firstId(): number {
    return this.events[0]!.seq;
  }

  get lastId(): number {
    return this.events[this.events.length - 1]!.seq;
  }

  get buffer(): Buffer {
    return (this.cachedBuffer ??= Buffer.from(framesOf(this.events), 'utf8'));
  }
}
