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

/**
 * SSE text of consecutive events, joined once. `join` copies the frames into one flat
 * string; `+=` would build a tree of string pieces that encoding must flatten first.
 */
export function framesOf(events: readonly TaskEvent[], from = 0): string {
  const frames: string[] = [];
  for (let i = from; i < events.length; i++) frames.push(events[i]!.frame);
  return frames.join('');
}

/** Characters of a frame besides its name, id and data: `event: `, `\nid: `, `\ndata: `, `\n\n`. */
const FRAME_OVERHEAD = 21;

/** Digits of a positive integer id. */
function digitsOf(id: number): number {
  let digits = 1;
  for (let rest = id; rest >= 10; rest = Math.floor(rest / 10)) digits++;
  return digits;
}

/** UTF-8 bytes of the frames of `events`, from the sizes they carry (name + data bytes). */
function framesByteLength(events: readonly TaskEvent[]): number {
  let bytes = 0;
  for (const event of events) bytes += FRAME_OVERHEAD + digitsOf(event.seq) + event.size;
  return bytes;
}

/** Bytes of the longest UTF-8 character. */
const MAX_CHAR_BYTES = 4;

/**
 * `text` encoded as UTF-8 into a buffer of the `bytes` expected, without measuring the text
 * first: room for one more character is allocated, so a text longer than expected shows
 * (then it is measured after all).
 */
function encode(text: string, bytes: number): Buffer {
  const buffer = Buffer.allocUnsafe(bytes + MAX_CHAR_BYTES);
  const written = buffer.write(text, 'utf8');
  return written === bytes ? buffer.subarray(0, bytes) : Buffer.from(text, 'utf8');
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
    return (this.cachedBuffer ??= encode(framesOf(this.events), framesByteLength(this.events)));
  }

  private cachedChunk: Buffer | undefined;

  /**
   * The batch as one HTTP/1.1 chunk (`<size in hex>\r\n<frames>\r\n`), built once for every
   * subscriber, for sinks that write it straight to a chunked response's socket.
   */
  get chunk(): Buffer {
    return (this.cachedChunk ??= httpChunk(this.buffer));
  }
}

/** `data` framed as one chunk of HTTP/1.1 chunked transfer encoding. */
export function httpChunk(data: Buffer): Buffer {
  const head = `${data.length.toString(16)}\r\n`;
  const chunk = Buffer.allocUnsafe(head.length + data.length + 2);
  chunk.write(head, 0, 'latin1');
  data.copy(chunk, head.length);
  chunk.write('\r\n', head.length + data.length, 'latin1');
  return chunk;
}
