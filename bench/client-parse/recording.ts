/**
 * The recorded streams of `npm run bench:client`: what the library's server writes for one
 * task, generated deterministically (fixed seeds), then cut into chunks the way a network
 * delivers them. Every contender is fed the very same chunks.
 */

/** Deterministic PRNG (mulberry32): the same seed gives the same stream on every run. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type ShapeId = 'progress' | 'large' | 'multiline';

export interface Recording {
  shape: ShapeId;
  title: string;
  /** The whole body, UTF-8. */
  bytes: Uint8Array;
  /** `progress` events (ids 1…events); then one `end` with id events + 1. */
  events: number;
  /** Average `data` size in UTF-8 bytes (all lines joined). */
  avgData: number;
}

/** The library's first frame (resume point 0, `retry`), its heartbeat, the event name. */
const OPEN_FRAME = 'id: 0\nretry: 2000\n\n';
const PING_FRAME = ': ping\n\n';
const PING_EVERY = 100;

const WORDS = [
  'rows',
  'export',
  'Étape',
  'données',
  'parsing',
  'upload',
  'chunk',
  'index',
  'réseau',
  'batch',
  'invoice',
  'customer',
  '✓',
  'merge',
  'validate',
];

function sentence(random: () => number, length: number): string {
  let text = '';
  while (text.length < length) text += (text ? ' ' : '') + WORDS[Math.floor(random() * WORDS.length)]!;
  return text;
}

/** 100–300 B of JSON: what a task reports as it goes. */
function progressData(i: number, total: number, random: () => number): object {
  return {
    i,
    total,
    pct: Math.round((i * 10_000) / total) / 100,
    phase: i < total / 2 ? 'read' : 'write',
    message: sentence(random, 10 + Math.floor(random() * 190)),
    at: 1_760_000_000_000 + i * 37,
  };
}

/** About 4 KiB of JSON: a page of rows. */
function largeData(i: number, random: () => number): object {
  const rows: object[] = [];
  let size = 40;
  while (size < 4000) {
    const row = {
      id: i * 100 + rows.length,
      sku: `SKU-${Math.floor(random() * 1e6)}`,
      name: sentence(random, 12 + Math.floor(random() * 24)),
      qty: Math.floor(random() * 50),
      price: Math.round(random() * 100_000) / 100,
    };
    rows.push(row);
    size += JSON.stringify(row).length + 1;
  }
  return { i, page: i, rows };
}

/** Pretty-printed JSON (one `data:` line per JSON line, ~15 lines, ~400 B). */
function multilineData(i: number, total: number, random: () => number): object {
  return {
    i,
    total,
    phase: 'transform',
    stats: { read: i * 3, written: i * 2, skipped: Math.floor(random() * 10) },
    message: sentence(random, 20 + Math.floor(random() * 60)),
    warnings: [sentence(random, 15), sentence(random, 25)],
  };
}

function frame(type: string, id: number, json: string): string {
  if (!json.includes('\n')) return `event: ${type}\nid: ${id}\ndata: ${json}\n\n`;
  return `event: ${type}\nid: ${id}\n${json
    .split('\n')
    .map((line) => `data: ${line}\n`)
    .join('')}\n`;
}

export const SHAPES: readonly { shape: ShapeId; events: number }[] = [
  { shape: 'progress', events: 20_000 },
  { shape: 'large', events: 2_000 },
  { shape: 'multiline', events: 10_000 },
];

/** The stream of one shape: open frame, `events` progress events (a ping every 100), `end`. */
export function record(shape: ShapeId, events: number): Recording {
  const random = prng(0x5e5e + shape.length);
  const parts: string[] = [OPEN_FRAME];
  let dataChars = 0;
  let dataLines = 0;
  for (let i = 1; i <= events; i++) {
    const data =
      shape === 'progress'
        ? JSON.stringify(progressData(i, events, random))
        : shape === 'large'
          ? JSON.stringify(largeData(i, random))
          : JSON.stringify(multilineData(i, events, random), null, 2);
    dataChars += Buffer.byteLength(data);
    dataLines += data.split('\n').length;
    parts.push(frame('progress', i, data));
    if (i % PING_EVERY === 0) parts.push(PING_FRAME);
  }
  parts.push(frame('end', events + 1, JSON.stringify({ status: 'completed', result: { rows: events } })));
  const avgData = Math.round(dataChars / events);
  const title =
    shape === 'multiline'
      ? `${events} events, data ~${avgData} B in ${Math.round(dataLines / events)} \`data:\` lines`
      : `${events} events, data ~${avgData} B`;
  return { shape, title, bytes: new TextEncoder().encode(parts.join('')), events, avgData };
}

export type Chunking =
  | { kind: 'fixed'; size: number }
  | { kind: 'random'; min: number; max: number; seed: number };

export const CHUNKINGS: readonly Chunking[] = [
  { kind: 'fixed', size: 16 * 1024 },
  { kind: 'random', min: 1, max: 1500, seed: 42 },
];

export function chunkingName(chunking: Chunking): string {
  return chunking.kind === 'fixed'
    ? `${chunking.size / 1024} KiB chunks`
    : `random ${chunking.min}–${chunking.max} B chunks (seed ${chunking.seed})`;
}

/**
 * The body cut into chunks, each its own buffer (as network reads are). Cuts fall anywhere:
 * inside lines, inside `\n\n`, inside multi-byte UTF-8 characters.
 */
export function split(bytes: Uint8Array, chunking: Chunking): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  const random = chunking.kind === 'random' ? prng(chunking.seed) : undefined;
  for (let at = 0; at < bytes.length; ) {
    const size =
      chunking.kind === 'fixed'
        ? chunking.size
        : chunking.min + Math.floor(random!() * (chunking.max - chunking.min + 1));
    chunks.push(bytes.slice(at, at + size));
    at += size;
  }
  return chunks;
}
