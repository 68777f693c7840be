import { STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * Request limits of the example app, the same on Express and Fastify:
 * - the request line and headers together: Node's `maxHeaderSize` (16 KiB unless the
 *   process runs with `--max-http-header-size`); past it, 431 with a JSON body;
 * - route parameters: up to that same size on Fastify too (its own default, 100
 *   characters, answers 414 where Express lets the route answer), so an over-long task id
 *   gets the library's 404 JSON on both;
 * - bodies: 16 KiB (`BODY_LIMIT_BYTES`), 413.
 */
export const MAX_PARAM_LENGTH = 16 * 1024;

/** Status of each parser error code we answer; others get 400. */
const STATUS_BY_CODE: Record<string, number> = {
  HPE_HEADER_OVERFLOW: 431,
  HPE_URI_TOO_LONG: 414,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
};

/**
 * Answers requests that Node's HTTP parser refuses (headers too large, malformed) with a
 * JSON body like every other error of the app, instead of Node's bare status line (Express)
 * or Fastify's own wording. Replaces the server's other `clientError` listeners.
 */
export function answerClientErrorsWithJson(server: Server): void {
  server.removeAllListeners('clientError');
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // A reset leaves nothing to answer (as in Node's own example of this event).
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = (err.code && STATUS_BY_CODE[err.code]) ?? 400;
    const error = STATUS_CODES[status] ?? 'Bad Request';
    const message =
      status === 431
        ? 'the request line and headers exceed 16 KiB'
        : status === 408
          ? 'the request took too long to arrive'
          : 'the request could not be parsed';
    const body = JSON.stringify({ statusCode: status, error, message });
    socket.end(
      `HTTP/1.1 ${status} ${error}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
