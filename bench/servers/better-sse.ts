/**
 * better-sse (npm) on node:http, used as its docs show: one `Channel`, a `Session` per
 * request registered with it, `channel.broadcast(data, 'progress', { eventId })` per event
 * (the session serializes `data` with JSON.stringify per subscriber, its default).
 * No native history: an in-process array honours `Last-Event-ID` (`session.lastId`) and
 * replays the backlog of workload d with `session.batch()` (one write).
 */
import { createServer } from 'node:http';
import { createChannel, createSession, type Session } from 'better-sse';
import { announce, Emitter, EVENT_NAME, handleControl, portFromEnv, type Payload } from '../common';

const channel = createChannel();
const history: Payload[] = [];

const emitter = new Emitter({
  event(id, data) {
    history.push(data);
    channel.broadcast(data, EVENT_NAME, { eventId: String(id) });
  },
});

async function subscribe(session: Session): Promise<void> {
  const after = Math.max(0, Number(session.lastId) || 0);
  if (after < history.length) {
    await session.batch((buffer) => {
      for (let i = after; i < history.length; i++) buffer.push(history[i], EVENT_NAME, String(i + 1));
    });
  }
  if (session.isConnected) channel.register(session);
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (handleControl(req, res, url, { open: () => channel.sessionCount, emitter })) return;
  if (req.method !== 'GET' || url.pathname !== '/stream') {
    res.writeHead(404).end();
    return;
  }
  createSession(req, res)
    .then(subscribe)
    .catch((err: unknown) => {
      console.error(err);
      res.destroy();
    });
});

server.listen(portFromEnv(), '127.0.0.1', () => {
  const address = server.address();
  announce(typeof address === 'object' && address ? address.port : 0);
});
