/**
 * Hand-rolled node:http SSE server, the baseline.
 * - default: one `res.write` per event per subscriber (what a hand-written server does);
 * - `--batched` (or BENCH_RAW_BATCHED=1): one write per subscriber per turn, the turn's frames
 *   joined and encoded once (the ceiling).
 * No native resume: an in-process array of frames honours `Last-Event-ID` (and replays the
 * backlog of workload d). Per-event mode replays with one write per event; batched mode
 * replays in 256 KiB writes, waiting for `drain`.
 */
import { createServer, type ServerResponse } from 'node:http';
import {
  announce,
  drained,
  Emitter,
  frameOf,
  handleControl,
  lastEventIdOf,
  portFromEnv,
  SSE_HEADERS,
} from '../common';

const batched = process.argv.includes('--batched') || process.env.BENCH_RAW_BATCHED === '1';
const REPLAY_WRITE_CHARS = 256 * 1024;

const subscribers = new Set<ServerResponse>();
const history: string[] = []; // history[id - 1] = frame of event id
let turn: string[] = [];

const emitter = new Emitter({
  event(id, data) {
    const frame = frameOf(id, JSON.stringify(data));
    history.push(frame);
    if (batched) turn.push(frame);
    else for (const res of subscribers) res.write(frame);
  },
  turnEnd() {
    if (!batched || turn.length === 0) return;
    const chunk = Buffer.from(turn.join(''), 'utf8');
    turn = [];
    for (const res of subscribers) res.write(chunk);
  },
});

/** Writes history after `after`, including events that arrive meanwhile; the live set is joined in the same turn it ends. */
async function replay(res: ServerResponse, after: number): Promise<void> {
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

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (handleControl(req, res, url, { open: () => subscribers.size, emitter })) return;
  if (req.method !== 'GET' || url.pathname !== '/stream') {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, SSE_HEADERS);
  res.flushHeaders();
  res.on('close', () => subscribers.delete(res));
  const after = lastEventIdOf(req.headers);
  if (after >= history.length) {
    subscribers.add(res);
    return;
  }
  void replay(res, after).then(() => {
    if (!res.destroyed) subscribers.add(res);
  });
});

server.listen(portFromEnv(), '127.0.0.1', () => {
  const address = server.address();
  announce(typeof address === 'object' && address ? address.port : 0);
});
