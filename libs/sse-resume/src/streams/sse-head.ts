import type { IncomingMessage, ServerResponse } from 'node:http';

/** The head Nest's `@Sse()` writer sends (`SseStream#commitHeaders`), for HTTP/1 connections. */
const SSE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': 'text/event-stream',
  Connection: 'keep-alive',
  'Cache-Control': 'private, no-cache, no-store, must-revalidate, max-age=0, no-transform',
  Pragma: 'no-cache',
  Expires: '0',
  'X-Accel-Buffering': 'no',
};

const SSE_HEADER_NAMES = new Set(Object.keys(SSE_HEADERS).map((name) => name.toLowerCase()));

/**
 * Starts an SSE response exactly as Nest's `@Sse()` writer does (same status, headers and
 * order, then a `\n`; pinned byte for byte by sse-resume.interceptor.spec.ts): the headers set
 * so far (`additional`: by Express, Fastify, a guard, `@Header()`) except those SSE sets, then
 * the SSE ones. The socket is tuned for a long stream (no idle timeout, no Nagle delay, TCP
 * keep-alive), as Nest does. Throws (having sent nothing) when Node rejects a header value.
 */
export function writeSseHead(
  request: IncomingMessage,
  res: ServerResponse,
  statusCode: number,
  additional: Record<string, unknown> | undefined,
): void {
  const headers: Record<string, unknown> = {};
  for (const name of Object.keys(additional ?? {})) {
    if (!SSE_HEADER_NAMES.has(name.toLowerCase())) headers[name] = additional![name];
  }
  Object.assign(headers, SSE_HEADERS);
  res.writeHead(statusCode, headers as Record<string, string>);
  res.flushHeaders();
  res.write('\n');
  const socket = request.socket;
  socket.setKeepAlive(true);
  socket.setNoDelay(true);
  socket.setTimeout(0);
}
