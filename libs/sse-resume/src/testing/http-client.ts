import { request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { parseFrames, type SseFrame } from './sse';

/** A small loopback HTTP client for tests (not part of the public API). */

export interface HttpReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

/** One request, read to the end. */
export function httpRequest(url: string, options: RequestOptions = {}): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: options.method ?? 'GET', headers: options.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** An open streaming response: its bytes so far, parsed frames, and how it ended. */
export class StreamingResponse {
  private chunks: Buffer[] = [];
  private endedFlag = false;
  private abortedFlag = false;
  readonly closed: Promise<void>;

  private constructor(readonly res: IncomingMessage) {
    res.on('data', (chunk: Buffer) => this.chunks.push(chunk));
    this.closed = new Promise((resolve) => {
      res.on('end', () => {
        this.endedFlag = true;
      });
      res.on('aborted', () => {
        this.abortedFlag = true;
      });
      res.on('error', () => {
        this.abortedFlag = true;
      });
      res.on('close', () => {
        if (!this.endedFlag) this.abortedFlag = true;
        resolve();
      });
    });
  }

  static open(url: string, headers: Record<string, string> = {}): Promise<StreamingResponse> {
    return new Promise((resolve, reject) => {
      const req = request(url, { headers, agent: false }, (res) => resolve(new StreamingResponse(res)));
      req.on('error', reject);
      req.end();
    });
  }

  get status(): number {
    return this.res.statusCode ?? 0;
  }

  get headers(): IncomingHttpHeaders {
    return this.res.headers;
  }

  get text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }

  get bytesReceived(): number {
    let n = 0;
    for (const chunk of this.chunks) n += chunk.length;
    return n;
  }

  get frames(): SseFrame[] {
    return parseFrames(this.text).frames;
  }

  /** Ended cleanly (the server ended the response). */
  get ended(): boolean {
    return this.endedFlag;
  }

  /** The connection closed before the response ended. */
  get aborted(): boolean {
    return this.abortedFlag;
  }

  pause(): void {
    this.res.pause();
  }

  resume(): void {
    this.res.resume();
  }

  /** Closes the connection from the client side. */
  destroy(): void {
    this.res.destroy();
  }
}
