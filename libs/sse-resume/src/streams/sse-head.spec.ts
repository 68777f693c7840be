import 'reflect-metadata';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { SseStream } from '@nestjs/core/router/sse-stream.js';
import { writeSseHead } from './sse-head';

function fakes() {
  const calls: unknown[][] = [];
  // A writable (Nest's writer pipes into it) that records the calls a response gets.
  const res = Object.assign(new Writable({ write: (_chunk, _encoding, done) => done() }), {
    writeHead: (...args: unknown[]) => calls.push(['writeHead', ...args]),
    flushHeaders: () => calls.push(['flushHeaders']),
  });
  res.write = (chunk: unknown) => calls.push(['write', chunk]) > 0;
  const socket = {
    setKeepAlive: (on: boolean) => calls.push(['setKeepAlive', on]),
    setNoDelay: (on: boolean) => calls.push(['setNoDelay', on]),
    setTimeout: (ms: number) => calls.push(['setTimeout', ms]),
  };
  return { calls, res: res as unknown as ServerResponse, request: { socket } as unknown as IncomingMessage };
}

describe('writeSseHead()', () => {
  it("writes Nest's SSE head: the other headers first, then the SSE ones (which win, whatever their case), then a newline", () => {
    const additional = { 'x-powered-by': 'Express', 'content-type': 'text/plain', pragma: 'x' };
    // What Nest's own writer sends for the same response (SseStream#commitHeaders).
    const nest = fakes();
    const stream = new SseStream(undefined);
    stream.pipe(nest.res, {
      statusCode: 201,
      additionalHeaders: additional,
    });
    stream.commitHeaders();
    const { calls, res, request } = fakes();
    writeSseHead(request, res, 201, additional);
    expect(calls.slice(0, 3)).toEqual(nest.calls.slice(0, 3));
    const [, status, headers] = calls[0]!;
    expect(status).toBe(201);
    expect(Object.keys(headers as object)).toEqual([
      'x-powered-by',
      'Content-Type',
      'Connection',
      'Cache-Control',
      'Pragma',
      'Expires',
      'X-Accel-Buffering',
    ]);
    expect(calls.slice(1)).toEqual([
      ['flushHeaders'],
      ['write', '\n'],
      ['setKeepAlive', true],
      ['setNoDelay', true],
      ['setTimeout', 0],
    ]);
  });

  it('throws, having written nothing more, when Node rejects the head', () => {
    const { calls, res, request } = fakes();
    (res as unknown as { writeHead: () => void }).writeHead = () => {
      throw new TypeError('Invalid character in header content');
    };
    expect(() => writeSseHead(request, res, 200, undefined)).toThrow(TypeError);
    expect(calls).toEqual([]);
  });
});
