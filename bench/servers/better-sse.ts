/**
 * better-sse (npm) on node:http, used as its docs show: one `Channel` per task, a `Session`
 * per request registered with its task's channel, `channel.broadcast(data, 'progress', { eventId })`
 * per event (the session serializes `data` with JSON.stringify per subscriber, its default),
 * heartbeats by its `keepAlive` session option (a comment frame per session timer).
 * No native history: an in-process array per task honours `Last-Event-ID` (`session.lastId`)
 * and replays the backlog of workload d with `session.batch()` (one write).
 */
import { createServer } from 'node:http';
import { type Channel, createChannel, createSession, type Session } from 'better-sse';
import {
  announce,
  Emitter,
  EVENT_NAME,
  handleControl,
  HEARTBEAT_MS,
  type Payload,
  listenOptions,
  taskOf,
  taskRegistry,
} from '../common';

interface Task {
  channel: Channel;
  history: Payload[];
  emitter: Emitter;
}

let open = 0;

const task = taskRegistry<Task>(() => {
  const channel = createChannel();
  const history: Payload[] = [];
  const emitter = new Emitter({
    event(id, data) {
      history.push(data);
      channel.broadcast(data, EVENT_NAME, { eventId: String(id) });
    },
  });
  return { channel, history, emitter };
});

async function subscribe(session: Session, { channel, history }: Task): Promise<void> {
  const after = Math.max(0, Number(session.lastId) || 0);
  if (after < history.length) {
    await session.batch((buffer) => {
      for (let i = after; i < history.length; i++) buffer.push(history[i], EVENT_NAME, String(i + 1));
    });
  }
  if (session.isConnected) channel.register(session);
}

const control = { open: () => open, emitter: task(0).emitter, taskEmitter: (k: number) => task(k).emitter };

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (handleControl(req, res, url, control)) return;
  if (req.method !== 'GET' || url.pathname !== '/stream') {
    res.writeHead(404).end();
    return;
  }
  const mine = task(taskOf(url.searchParams));
  createSession(req, res, { keepAlive: HEARTBEAT_MS })
    .then((session) => {
      open++;
      session.once('disconnected', () => open--);
      return subscribe(session, mine);
    })
    .catch((err: unknown) => {
      console.error(err);
      res.destroy();
    });
});

server.listen(listenOptions(), () => {
  const address = server.address();
  announce(typeof address === 'object' && address ? address.port : 0);
});
