/**
 * A streaming parser for `text/event-stream` bodies, following the WHATWG HTML rules for
 * parsing and interpreting an event stream (section "Server-sent events").
 *
 * No runtime dependencies: it needs only `TextDecoder`, present in browsers and Node >= 20.
 */

/** One dispatched event, as an `EventSource` would deliver it as a `MessageEvent`. */
export interface SseEvent {
  /** The `event:` field, or `"message"` when the event had none (or an empty one). */
  readonly type: string;
  /** The `data:` lines joined with `"\n"` (no trailing newline). */
  readonly data: string;
  /**
   * The last event ID when the event was dispatched: the value of the most recent valid
   * `id:` line in the stream, whether or not it belonged to this event (`""` when none was
   * seen, or after an empty `id:`).
   */
  readonly lastEventId: string;
}

/** Where the parser reports what it finds. Called synchronously from `push()`. */
export interface SseParserHandlers {
  /** A complete event (one ended by a blank line and carrying at least one `data` line). */
  onEvent(event: SseEvent): void;
  /**
   * A valid `retry:` line (ASCII digits only): the new reconnection time in milliseconds.
   * Reported as soon as the line ends, not at the next dispatch.
   */
  onRetry?(milliseconds: number): void;
  /**
   * A comment line (one starting with `:`); `text` is everything after that colon, unchanged
   * (a leading space is kept). Servers send these as heartbeats.
   */
  onComment?(text: string): void;
}

/** Options of {@link SseParser}. */
export interface SseParserOptions {
  /**
   * Initial value of the last event ID buffer; `""` (the spec's initial value) by default.
   * A client reconnecting with `Last-Event-ID` passes the previous parser's `lastEventId`
   * so events of the new stream that carry no `id:` keep reporting it.
   */
  readonly lastEventId?: string;
}

const LF = 0x0a;

/**
 * Parses an event stream fed in byte chunks of any size, cut anywhere: inside a line, between
 * the CR and LF of a CRLF pair, or inside a multi-byte UTF-8 character. The events, retries
 * and comments it reports do not depend on where the cuts fall.
 *
 * ```ts
 * const parser = new SseParser({ onEvent: (e) => console.log(e.type, e.data, e.lastEventId) });
 * for await (const chunk of response.body) parser.push(chunk);
 * parser.end();
 * ```
 *
 * Rules applied (WHATWG HTML, "Parsing an event stream" and "Interpreting an event stream"):
 * - bytes are decoded as UTF-8 (invalid sequences become U+FFFD); one BOM at the very start
 *   of the stream is dropped;
 * - lines end with CRLF, LF or CR; an empty line dispatches the event being built;
 * - a line starting with `:` is a comment;
 * - otherwise the field name is the text before the first `:` and the value the text after
 *   it, minus one leading space; a line without `:` is a field named by the whole line with
 *   an empty value;
 * - `event` sets the type; `data` appends a line to the data; `id` sets the last event ID
 *   unless the value contains U+0000 (an empty value resets it to `""`; it persists across
 *   events); `retry` with ASCII digits only sets the reconnection time; other fields are
 *   ignored;
 * - an event without `data` lines is not dispatched, but its type is reset all the same;
 * - at the end of the stream, an incomplete line and an undispatched event are discarded.
 *
 * One parser reads one stream, as bytes only (`Uint8Array`, what `fetch` bodies give); to
 * parse text, encode it first (`new TextEncoder().encode(text)`). Handlers run synchronously
 * inside `push()`; if one throws, the exception propagates and the rest of that chunk is not
 * parsed.
 */
export class SseParser {
  readonly #handlers: SseParserHandlers;
  /** Streaming UTF-8; it drops one BOM at the start of the stream, even one cut across chunks. */
  readonly #decoder = new TextDecoder();
  /** Text of the current line received so far (it holds no CR or LF). */
  #pending = '';
  /** The previous character was a CR that ended a line: an LF right after it is skipped. */
  #afterCR = false;
  #ended = false;

  #eventType = '';
  /** The data lines of the event being built, joined; `undefined` before its first one. */
  #data: string | undefined;
  #lastEventIdBuffer: string;
  #lastDispatchedId: string;
  #reconnectionTime: number | undefined;

  constructor(handlers: SseParserHandlers, options: SseParserOptions = {}) {
    this.#handlers = handlers;
    this.#lastEventIdBuffer = options.lastEventId ?? '';
    this.#lastDispatchedId = this.#lastEventIdBuffer;
  }

  /**
   * The event source's last event ID string: the last event ID as of the latest dispatch
   * (an empty line), which is what a reconnecting client sends as `Last-Event-ID`. An `id:`
   * line followed by no empty line before the stream ends does not change it.
   */
  get lastEventId(): string {
    return this.#lastDispatchedId;
  }

  /** The latest valid `retry:` value in milliseconds, or `undefined` if none was seen. */
  get retry(): number | undefined {
    return this.#reconnectionTime;
  }

  /**
   * Feeds the next chunk of the stream (UTF-8 bytes).
   * @throws Error after {@link end}; TypeError for a chunk that is not bytes.
   */
  push(chunk: Uint8Array): void {
    if (this.#ended) throw new Error('push() after end()');
    const text = this.#decoder.decode(chunk, { stream: true });
    // Nothing decoded (an empty chunk, or part of a character): nothing to scan.
    if (text) this.#scan(text);
  }

  /**
   * Ends the stream: an incomplete last line and an event not yet ended by an empty line
   * are discarded, as the spec requires. Later calls do nothing; `push()` then throws.
   */
  end(): void {
    this.#ended = true;
    this.#pending = '';
    this.#data = undefined;
  }

  /** Splits `text` into lines, carrying an unterminated tail over in `pending`. */
  #scan(text: string): void {
    const length = text.length;
    let start = 0;
    if (this.#afterCR) {
      this.#afterCR = false;
      if (text.charCodeAt(0) === LF) start = 1;
    }
    // Native searches (no loop over every character); each result is reused until passed.
    let lf = text.indexOf('\n', start);
    let cr = text.indexOf('\r', start);
    for (;;) {
      const end = cr < 0 || (lf >= 0 && lf < cr) ? lf : cr;
      if (end < 0) break;
      let line = text.slice(start, end);
      if (this.#pending) {
        line = this.#pending + line;
        this.#pending = '';
      }
      start = end + 1;
      if (end === cr) {
        if (start === length) this.#afterCR = true;
        else if (text.charCodeAt(start) === LF) start++;
      }
      if (lf >= 0 && lf < start) lf = text.indexOf('\n', start);
      if (cr >= 0 && cr < start) cr = text.indexOf('\r', start);
      this.#line(line);
    }
    if (start < length) this.#pending += start === 0 ? text : text.slice(start);
  }

  #line(line: string): void {
    if (line.length === 0) {
      this.#dispatch();
      return;
    }
    const colon = line.indexOf(':');
    if (colon === 0) {
      this.#handlers.onComment?.(line.slice(1));
      return;
    }
    // No colon: the whole line names the field, the value is empty.
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(line.charCodeAt(colon + 1) === 0x20 ? colon + 2 : colon + 1);
    if (field === 'data') {
      this.#data = this.#data === undefined ? value : this.#data + '\n' + value;
    } else if (field === 'event') this.#eventType = value;
    else if (field === 'id') {
      if (!value.includes('\0')) this.#lastEventIdBuffer = value;
    } else if (field === 'retry' && /^\d+$/.test(value) && Number.isSafeInteger(+value)) {
      // ASCII digits only (`\d` is [0-9]); beyond 2^53 the integer cannot be exact: ignored.
      this.#reconnectionTime = +value;
      this.#handlers.onRetry?.(+value);
    }
    // Other fields are ignored.
  }

  #dispatch(): void {
    this.#lastDispatchedId = this.#lastEventIdBuffer;
    const type = this.#eventType;
    const data = this.#data;
    this.#eventType = '';
    this.#data = undefined;
    if (data !== undefined) {
      this.#handlers.onEvent({ type: type || 'message', data, lastEventId: this.#lastDispatchedId });
    }
  }
}
