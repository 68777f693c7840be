import type { MessageEvent } from '@nestjs/common';

/** One SSE frame as a client sees it (test helper, not part of the public API). */
export interface SseFrame {
  event?: string;
  id?: string;
  retry?: string;
  data?: string;
  /** Comment lines (`: text`), without the leading `: `. */
  comments: string[];
}

/**
 * Parses SSE text line by line (WHATWG rules for the fields used here): a blank line ends
 * a frame; blank lines with nothing before them (like Nest's leading "\n") yield nothing.
 * `rest` is an incomplete trailing frame.
 */
export function parseSse(text: string): { frames: SseFrame[]; rest: string } {
  const frames: SseFrame[] = [];
  let current: SseFrame = { comments: [] };
  let empty = true;
  let consumed = 0;
  let start = 0;
  for (;;) {
    const newline = text.indexOf('\n', start);
    if (newline < 0) break;
    const line = text.slice(start, newline);
    start = newline + 1;
    if (line === '') {
      if (!empty) frames.push(current);
      current = { comments: [] };
      empty = true;
      consumed = start;
      continue;
    }
    empty = false;
    if (line.startsWith(':')) {
      current.comments.push(line.slice(1).replace(/^ /, ''));
      continue;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') current.event = value;
    else if (field === 'id') current.id = value;
    else if (field === 'retry') current.retry = value;
    else if (field === 'data')
      current.data = current.data === undefined ? value : `${current.data}\n${value}`;
  }
  return { frames, rest: text.slice(consumed) };
}

/** A Nest `MessageEvent` as the frame Nest would write for it (explicit fields only). */
export function messageToFrame(message: MessageEvent): SseFrame {
  const frame: SseFrame = { comments: [] };
  if (message.type !== undefined) frame.event = message.type;
  if (message.id !== undefined) frame.id = message.id;
  if (message.retry !== undefined) frame.retry = String(message.retry);
  if (message.comment !== undefined) frame.comments.push(message.comment);
  if (message.data !== undefined) {
    frame.data = typeof message.data === 'string' ? message.data : JSON.stringify(message.data);
  }
  return frame;
}

/** Short text for a frame, handy in `toEqual` lists: `open:0`, `progress:3:{...}`, `ping`. */
export function describeFrame(frame: SseFrame): string {
  if (frame.event === undefined && frame.data === undefined && frame.retry === undefined) {
    return frame.id === undefined ? frame.comments.join('|') : `id:${frame.id}`;
  }
  if (frame.retry !== undefined && frame.event === undefined && frame.data === undefined) {
    return `open:${frame.id ?? ''}`;
  }
  return `${frame.event ?? 'message'}:${frame.id ?? ''}:${frame.data ?? ''}`;
}

export function describeMessages(messages: readonly MessageEvent[]): string[] {
  return messages.map((message) => describeFrame(messageToFrame(message)));
}
