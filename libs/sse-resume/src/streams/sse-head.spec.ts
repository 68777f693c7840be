import type { IncomingMessage, ServerResponse } from 'node:http';
import { writeSseHead } from './sse-head';

function fakes() {
  const calls: unknown[][] = [];
  const res = {
    writeHead: (...args: unknown[]) => calls.push(['writeHead', ...args]),
    flushHeaders: () => calls.push(['flushHeaders']),
    write: (chunk: unknown) => calls.push(['write', chunk]),
  };
  const socket = {
    setKeepAlive: (on: boolean) => calls.push(['setKeepAlive', on]),
    setNoDelay: (on: boolean) => calls.push(['setNoDelay', on]),
    setTimeout: (ms: number) => calls.push(['setTimeout', ms]),
  };
  return { calls, res: res as unknown as ServerResponse, request: { socket } as unknown as IncomingMessage };
}

describe('writeSseHead()', () => {
  it("writes Nest's SSE head: the other headers first, then the SSE ones (which win, whatever their case), then a newline", () => {
    const { calls, res, request } = fakes();
    writeSseHead(request, res, 201, { 'x-powered-by': 'Express', 'content-type': 'text/plain', pragma: 'x' });
    const [writeHead, ...rest] = calls;
    expect(writeHead).toEqual([
      'writeHead',
      201,
      {
        'x-powered-by': 'Express',
        'Content-Type': 'text/event-stream',
        Connection: 'keep-alive',
        'Cache-Control': 'private, no-cache, no-store, must-revalidate, max-age=0, no-transform',
        Pragma: 'no-cache',
        Expires: '0',
        'X-Accel-Buffering': 'no',
      },
    ]);
    expect(Object.keys(writeHead![2] as object)[0]).toBe('x-powered-by');
    expect(rest).toEqual([
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
