/**
 * A strict parser of SSE text as our server writes it (`\n` line ends): it keeps every
 * line exactly as sent so tests can assert `id:` / `event:` / `retry:` / `data:` lines and
 * comments byte for byte. Only frames terminated by a blank line count; an unterminated
 * tail (a cut connection) is returned as `rest`, as a browser would discard it.
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
