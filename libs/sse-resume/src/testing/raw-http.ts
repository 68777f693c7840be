import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseFrames, type SseFrame } from './sse';

/**
 * The one HTTP client of the tests, unit and e2e (test helper, not part of the public API):
 * HTTP/1.1 on a bare `node:net` socket. It sends exactly the request line and headers it is
 * given, and records the status line, headers and the exact body bytes (de-chunked) as they
 * arrive, with their arrival times. For SSE it parses frames; a stream can be paused to play
 * a client that stops reading.
 */
export interface RawRequestOptions {
  method?: string;
  /** Sent as given, after `Host` (and `Connection: close` unless given). */
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Destroys the connection and rejects `done` after this long. Default 10 s. */
  timeoutMs?: number;
}

export interface RawHead {
  /** e.g. `HTTP/1.1 200 OK` */
  statusLine: string;
  status: number;
  /** Lower-cased names; repeated headers joined with `, `. */
  headers: Record<string, string>;
}

/** How the response ended. */
export type RawEnd =
  /** The whole body arrived (last chunk, Content-Length reached, or no body). */
  | 'complete'
  /** The server closed (FIN) before the body was complete. */
  | 'fin'
  /** The connection failed (RST or another socket error). */
  | 'error'
  /** We closed it (`close()`). */
  | 'closed';

export interface RawResponse extends RawHead {
  /** The exact body bytes (chunked transfer encoding removed). */
  body: Buffer;
  text: string;
  endedBy: RawEnd;
  error?: Error;
}

export interface BodyChunk {
  /** `performance.now()` when the bytes arrived. */
  at: number;
  bytes: Buffer;
}

const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');

export class RawHttpConnection {
  readonly socket: Socket;
  head: RawHead | undefined;
  readonly chunks: BodyChunk[] = [];
  endedBy: RawEnd | undefined;
  error: Error | undefined;
  readonly done: Promise<RawResponse>;
  /** Settles (never rejects) when the connection is over, however it ended. */
  readonly closed: Promise<void>;

  private readonly method: string;
  private pending: Buffer = Buffer.alloc(0);
  private mode: 'head' | 'chunked' | 'length' | 'close' | 'none' = 'head';
  private remaining = 0;
  private expectCrlf = false;
  private readonly listeners = new Set<() => void>();
  private resolveDone!: (response: RawResponse) => void;
  private rejectDone!: (error: Error) => void;
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly url: string,
    options: RawRequestOptions = {},
  ) {
    const target = new URL(url);
    this.method = (options.method ?? 'GET').toUpperCase();
    this.done = new Promise<RawResponse>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.done.catch(() => undefined); // callers that only use waitFor() must not see it unhandled
    this.closed = this.done.then(
      () => undefined,
      () => undefined,
    );
    const headers: Record<string, string> = { Host: target.host, ...options.headers };
    const names = new Set(Object.keys(headers).map((name) => name.toLowerCase()));
    if (!names.has('connection')) headers.Connection = 'close';
    const body = typeof options.body === 'string' ? Buffer.from(options.body) : options.body;
    if (body !== undefined && !names.has('content-length') && !names.has('transfer-encoding')) {
      headers['Content-Length'] = String(body.length);
    }
    let request = `${this.method} ${target.pathname}${target.search} HTTP/1.1\r\n`;
    for (const [name, value] of Object.entries(headers)) request += `${name}: ${value}\r\n`;
    request += '\r\n';

    this.socket = connect({ host: target.hostname, port: Number(target.port) });
    this.socket.write(body ? Buffer.concat([Buffer.from(request, 'latin1'), body]) : request);
    this.socket.on('data', (data: Buffer) => {
      try {
        this.onData(data);
      } catch (error) {
        this.error = error instanceof Error ? error : new Error(String(error));
        this.socket.destroy();
        this.finish('error');
      }
    });
    // Without Content-Length or chunking, the body ends with the connection.
    this.socket.on('end', () => this.finish(this.isComplete() || this.mode === 'close' ? 'complete' : 'fin'));
    this.socket.on('error', (error) => {
      this.error = error;
      this.finish('error');
    });
    this.socket.on('close', () => this.finish(this.isComplete() ? 'complete' : 'fin'));
    const timeoutMs = options.timeoutMs ?? 10_000;
    this.timer = setTimeout(() => {
      const error = new Error(
        `${this.method} ${url}: no complete response within ${timeoutMs} ms; got ${this.describe()}`,
      );
      this.socket.destroy();
      this.settle(undefined, error);
    }, timeoutMs);
  }

  /** The body bytes received so far. */
  get body(): Buffer {
    return Buffer.concat(this.chunks.map((chunk) => chunk.bytes));
  }

  get text(): string {
    return this.body.toString('utf8');
  }

  /** The status code; 0 before the head arrived. */
  get status(): number {
    return this.head?.status ?? 0;
  }

  get bytesReceived(): number {
    return this.chunks.reduce((sum, chunk) => sum + chunk.bytes.length, 0);
  }

  /** The whole body arrived (the server ended the response). */
  get ended(): boolean {
    return this.endedBy === 'complete';
  }

  /** The connection closed before the body was complete. */
  get aborted(): boolean {
    return this.endedBy !== undefined && this.endedBy !== 'complete';
  }

  /** Stops reading: the server's writes back up in the socket buffers, as with a stalled client. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Complete SSE frames received so far. */
  frames(): SseFrame[] {
    return parseFrames(this.text).frames;
  }

  /** Resolves when `predicate` holds; rejects when the connection ends first or on timeout. */
  waitFor(predicate: (connection: this) => boolean, what = 'condition', timeoutMs = 10_000): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (predicate(this)) {
          cleanup();
          resolve();
        } else if (this.endedBy !== undefined) {
          cleanup();
          reject(new Error(`connection ended (${this.endedBy}) before ${what}; got ${this.describe()}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${this.describe()}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      check();
    });
  }

  /** Waits until the complete frames satisfy `predicate`. */
  waitForFrames(
    predicate: (frames: SseFrame[]) => boolean,
    what = 'frames',
    timeoutMs = 10_000,
  ): Promise<void> {
    return this.waitFor(() => predicate(this.frames()), what, timeoutMs);
  }

  /** Closes the connection from our side (FIN + destroy). */
  close(): Promise<RawResponse> {
    this.socket.destroy();
    this.finish('closed');
    return this.done;
  }

  private onData(data: Buffer): void {
    const at = performance.now();
    if (this.mode === 'head') {
      this.pending = Buffer.concat([this.pending, data]);
      const end = this.pending.indexOf(HEAD_END);
      if (end === -1) return this.notify();
      this.head = parseHead(this.pending.subarray(0, end).toString('latin1'));
      data = this.pending.subarray(end + HEAD_END.length);
      this.pending = Buffer.alloc(0);
      const { status, headers } = this.head;
      if (this.method === 'HEAD' || status === 204 || status === 304 || status < 200) this.mode = 'none';
      else if (/\bchunked\b/i.test(headers['transfer-encoding'] ?? '')) this.mode = 'chunked';
      else if (headers['content-length'] !== undefined) {
        this.mode = 'length';
        this.remaining = Number(headers['content-length']);
      } else this.mode = 'close';
    }
    if (this.mode === 'chunked') this.decodeChunked(data, at);
    else if (this.mode === 'length') {
      const take = data.subarray(0, this.remaining);
      this.remaining -= take.length;
      if (take.length > 0) this.chunks.push({ at, bytes: take });
    } else if (this.mode === 'close' && data.length > 0) {
      this.chunks.push({ at, bytes: data });
    }
    if (this.isComplete()) {
      this.socket.destroy();
      this.finish('complete');
    }
    this.notify();
  }

  private decodeChunked(data: Buffer, at: number): void {
    let input = this.pending.length > 0 ? Buffer.concat([this.pending, data]) : data;
    const out: Buffer[] = [];
    for (;;) {
      if (this.remaining > 0) {
        const take = input.subarray(0, this.remaining);
        if (take.length === 0) break;
        out.push(take);
        this.remaining -= take.length;
        input = input.subarray(take.length);
        if (this.remaining === 0) this.expectCrlf = true;
        continue;
      }
      if (this.expectCrlf) {
        if (input.length < 2) break;
        if (!input.subarray(0, 2).equals(CRLF)) throw new Error('chunked encoding: missing CRLF after chunk');
        input = input.subarray(2);
        this.expectCrlf = false;
        continue;
      }
      const lineEnd = input.indexOf(CRLF);
      if (lineEnd === -1) break;
      const sizeText = input.subarray(0, lineEnd).toString('latin1').split(';')[0]!.trim();
      if (!/^[0-9a-fA-F]+$/.test(sizeText)) throw new Error(`chunked encoding: bad size line ${sizeText}`);
      const size = parseInt(sizeText, 16);
      input = input.subarray(lineEnd + 2);
      if (size === 0) {
        this.mode = 'none'; // the last chunk: the body is complete (trailers ignored)
        input = Buffer.alloc(0);
        break;
      }
      this.remaining = size;
    }
    this.pending = Buffer.from(input);
    if (out.length > 0) this.chunks.push({ at, bytes: Buffer.concat(out) });
  }

  private isComplete(): boolean {
    return (
      this.head !== undefined && (this.mode === 'none' || (this.mode === 'length' && this.remaining === 0))
    );
  }

  private finish(endedBy: RawEnd): void {
    if (this.endedBy !== undefined) return;
    this.endedBy = endedBy;
    this.notify();
    if (!this.head) {
      if (endedBy === 'closed') {
        this.settle({ statusLine: '', status: 0, headers: {}, body: Buffer.alloc(0), text: '', endedBy });
        return;
      }
      const reason = this.error ? `: ${this.error.message}` : '';
      this.settle(
        undefined,
        new Error(
          `${this.method} ${this.url}: connection ended (${endedBy}) before a response head${reason}`,
        ),
      );
      return;
    }
    const body = this.body;
    this.settle({ ...this.head, body, text: body.toString('utf8'), endedBy, error: this.error });
  }

  private settle(response: RawResponse | undefined, error?: Error): void {
    clearTimeout(this.timer);
    if (response) this.resolveDone(response);
    else this.rejectDone(error!);
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  private describe(): string {
    const head = this.head ? this.head.statusLine : 'no head';
    const text = this.text;
    const tail = text.length > 600 ? `...${text.slice(-600)}` : text;
    return `${head}, ${text.length} body chars: ${JSON.stringify(tail)}`;
  }
}

function parseHead(text: string): RawHead {
  const [statusLine = '', ...lines] = text.split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!match) throw new Error(`not an HTTP response: ${JSON.stringify(statusLine)}`);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { statusLine, status: Number(match[1]), headers };
}

/** Opens a raw connection (see {@link RawHttpConnection}); read it while it streams. */
export function openRaw(url: string, options: RawRequestOptions = {}): RawHttpConnection {
  return new RawHttpConnection(url, options);
}

/**
 * Opens a streaming request and resolves once the response head has arrived (rejects if the
 * connection ends first). Default timeout 60 s, for streams held open by the test.
 */
export async function openStream(url: string, options: RawRequestOptions = {}): Promise<RawHttpConnection> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const connection = new RawHttpConnection(url, { ...options, timeoutMs });
  await connection.waitFor((c) => c.head !== undefined, 'the response head', timeoutMs);
  return connection;
}

/** One raw request, resolved when the response is complete or the connection ends. */
export function rawRequest(url: string, options: RawRequestOptions = {}): Promise<RawResponse> {
  return new RawHttpConnection(url, options).done;
}
