/**
 * Hand-rolled node:http SSE server, the baseline.
 * - default: one `res.write` per event per subscriber (what a hand-written server does);
 * - `--batched` (or BENCH_RAW_BATCHED=1): one write per subscriber per turn, the turn's frames
 *   joined and encoded once (the ceiling).
 * No native resume: an in-process array of frames honours `Last-Event-ID` (and replays the
 * backlog of workload d). Per-event mode replays with one write per event; batched mode
 * replays in 256 KiB writes, waiting for `drain`.
 * Tasks (`?task=K`): each its own subscribers, history and ids, made on first use. Heartbeat:
 * one process-wide interval writes a comment frame to every open stream.
 */
import { createServer, type ServerResponse } from 'node:http';
import {
  announce,
  drained,
  Emitter,
  frameOf,
  handleControl,
  HEARTBEAT_FRAME,
  HEARTBEAT_MS,
  lastEventIdOf,
  listenOptions,
  SSE_HEADERS,
  taskOf,
  taskRegistry,
} from '../common';

const batched = process.argv.includes('--batched') || process.env.BENCH_RAW_BATCHED === '1';
const REPLAY_WRITE_CHARS = 256 * 1024;

/** Every open stream, for the heartbeat and `/ready`. */
const streams = new Set<ServerResponse>();

/** One task: its subscribers, its frames (history[id - 1] = frame of event id), its emitter. */
class RawTask {
  readonly subscribers = new Set<ServerResponse>();
  readonly history: string[] = [];
  private turn: string[] = [];
  readonly emitter = new Emitter({
    event: (id, data) => {
      const frame = frameOf(id, JSON.stringify(data));
      this.history.push(frame);
      if (batched) this.turn.push(frame);
      else for (const res of this.subscribers) res.write(frame);
    },
    turnEnd: () => {
      if (!batched || this.turn.length === 0) return;
      const chunk = Buffer.from(this.turn.join(''), 'utf8');
      this.turn = [];
      for (const res of this.subscribers) res.write(chunk);
    },
  });
}

const task = taskRegistry(() => new RawTask());

setInterval(() => {
  for (const res of streams) res.write(HEARTBEAT_FRAME);
}, HEARTBEAT_MS).unref();

/** Writes history after `after`, including events that arrive meanwhile; the live set is joined in the same turn it ends. */
async function replay(res: ServerResponse, history: string[], after: number): Promise<void> {
  if (!batched) {
    for (let i = after; i < history.length; i++) res.write(history[i]!);
    return;
  }
  let text = '';
  for (let i = after; i < history.length; i++) {
    text += history[i]!;
    if (text.length >= REPLAY_WRITE_CHARS) {
      if (!res.write(text)) await drained(res);
      text = '';
      if (res.destroyed) return;
    }
  }
  if (text) res.write(text);
}

const control = {
  open: () => streams.size,
  emitter: task(0).emitter,
  taskEmitter: (k: number) => task(k).emitter,
};

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (handleControl(req, res, url, control)) return;
  if (req.method !== 'GET' || url.pathname !== '/stream') {
    res.writeHead(404).end();
    return;
  }
  const { subscribers, history } = task(taskOf(url.searchParams));
  res.writeHead(200, SSE_HEADERS);
  res.flushHeaders();
  streams.add(res);
  res.on('close', () => {
    subscribers.delete(res);
    streams.delete(res);
  });
  const after = lastEventIdOf(req.headers);
  if (after >= history.length) {
    subscribers.add(res);
    return;
  }
  void replay(res, history, after).then(() => {
    if (!res.destroyed) subscribers.add(res);
  });
});

server.listen(listenOptions(), () => {
  const address = server.address();
  announce(typeof address === 'object' && address ? address.port : 0);
});
