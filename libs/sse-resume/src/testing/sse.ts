import type { MessageEvent } from '@nestjs/common';

/**
 * The one SSE parser of the tests, unit and e2e (test helper, not part of the public API):
 * strict, for SSE text as our server writes it (`\n` line ends). It keeps every line exactly
 * as sent so tests can assert `id:` / `event:` / `retry:` / `data:` lines and comments byte
 * for byte. Only frames terminated by a blank line count; an unterminated tail (a cut
 * connection) is returned as `rest`, as a browser would discard it.
 */
export interface SseFrame {
  /** The frame's lines, exactly as sent, without the terminating blank line. */
  lines: string[];
  /** Values of the fields; `undefined` when the frame has no such line. */
  id?: string;
  event?: string;
  retry?: string;
  /** Every `data:` line's value (several lines = several entries). */
  data: string[];
  /** Comment lines (`: ping` → `ping`). */
  comments: string[];
}

export interface ParsedFrames {
  frames: SseFrame[];
  /** Text after the last complete frame. */
  rest: string;
}

export function parseFrames(text: string): ParsedFrames {
  const frames: SseFrame[] = [];
  let lines: string[] = [];
  let start = 0;
  let restStart = 0;
  for (let newline = text.indexOf('\n'); newline !== -1; newline = text.indexOf('\n', start)) {
    const line = text.slice(start, newline);
    start = newline + 1;
    if (line !== '') {
      lines.push(line);
      continue;
    }
    // A blank line ends a frame; a blank line with nothing before it (Nest's leading "\n")
    // is no frame.
    if (lines.length > 0) frames.push(frameOf(lines));
    lines = [];
    restStart = start;
  }
  return { frames, rest: text.slice(restStart) };
}

function frameOf(lines: string[]): SseFrame {
  const frame: SseFrame = { lines, data: [], comments: [] };
  for (const line of lines) {
    if (line.startsWith(':')) {
      frame.comments.push(line.slice(1).replace(/^ /, ''));
      continue;
    }
    const colon = line.indexOf(':');
    const name = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (name === 'data') frame.data.push(value);
    else if (name === 'id') frame.id = value;
    else if (name === 'event') frame.event = value;
    else if (name === 'retry') frame.retry = value;
    else throw new Error(`unexpected SSE field ${JSON.stringify(name)} in line ${JSON.stringify(line)}`);
  }
  return frame;
}

/** Frames that carry an event (an `event:` line), i.e. not the open frame or heartbeats. */
export function eventFrames(frames: readonly SseFrame[]): SseFrame[] {
  return frames.filter((frame) => frame.event !== undefined);
}

/** Frames that are only comments (heartbeats). */
export function commentFrames(frames: readonly SseFrame[]): SseFrame[] {
  return frames.filter((frame) => frame.comments.length > 0 && frame.comments.length === frame.lines.length);
}

/** The data as an EventSource delivers it (`data:` lines joined by `\n`); `undefined` without any. */
function dataText(frame: SseFrame): string | undefined {
  return frame.data.length === 0 ? undefined : frame.data.join('\n');
}

/** A frame's fields as an EventSource delivers them: no raw lines, `data:` lines joined. */
export interface SseFields {
  event?: string;
  id?: string;
  retry?: string;
  /** The `data:` lines joined by `\n`; absent without any. */
  data?: string;
  comments: string[];
}

export function fieldsOf(frame: SseFrame): SseFields {
  const fields: SseFields = { comments: frame.comments };
  if (frame.event !== undefined) fields.event = frame.event;
  if (frame.id !== undefined) fields.id = frame.id;
  if (frame.retry !== undefined) fields.retry = frame.retry;
  const data = dataText(frame);
  if (data !== undefined) fields.data = data;
  return fields;
}

/** The JSON of a frame's single `data:` line. */
export function dataOf<T = unknown>(frame: SseFrame): T {
  if (frame.data.length !== 1) throw new Error(`expected one data line, got ${frame.data.length}`);
  return JSON.parse(frame.data[0]!) as T;
}

/** The frame's `id:` as a number (throws when missing or not an integer). */
export function idOf(frame: SseFrame): number {
  if (frame.id === undefined || !/^[0-9]+$/.test(frame.id)) {
    throw new Error(`frame has no numeric id: ${JSON.stringify(frame.lines)}`);
  }
  return Number(frame.id);
}

/** A Nest `MessageEvent` as the frame Nest would write for it (explicit fields only). */
export function messageToFrame(message: MessageEvent): SseFrame {
  const data =
    message.data === undefined
      ? []
      : (typeof message.data === 'string' ? message.data : JSON.stringify(message.data)).split('\n');
  const frame: SseFrame = { lines: [], data, comments: [] };
  if (message.comment !== undefined) frame.comments.push(message.comment);
  if (message.type !== undefined) frame.event = message.type;
  if (message.id !== undefined) frame.id = message.id;
  if (message.retry !== undefined) frame.retry = String(message.retry);
  frame.lines = [
    ...frame.comments.map((comment) => `: ${comment}`),
    ...(frame.event === undefined ? [] : [`event: ${frame.event}`]),
    ...(frame.id === undefined ? [] : [`id: ${frame.id}`]),
    ...(frame.retry === undefined ? [] : [`retry: ${frame.retry}`]),
    ...data.map((line) => `data: ${line}`),
  ];
  return frame;
}

/** Short text for a frame, handy in `toEqual` lists: `open:0`, `progress:3:{...}`, `ping`. */
export function describeFrame(frame: SseFrame): string {
  const { event, id, retry, data, comments } = fieldsOf(frame);
  if (event === undefined && data === undefined && retry === undefined) {
    return id === undefined ? comments.join('|') : `id:${id}`;
  }
  if (retry !== undefined && event === undefined && data === undefined) return `open:${id ?? ''}`;
  return `${event ?? 'message'}:${id ?? ''}:${data ?? ''}`;
}

export function describeMessages(messages: readonly MessageEvent[]): string[] {
  return messages.map((message) => describeFrame(messageToFrame(message)));
}
