/**
 * The contenders and workloads of `npm run bench`. Adding a contender is one entry here
 * (plus its server, if it is a new one).
 */
import type { ClientMode } from './client';

export interface Contender {
  /** Name in the tables and in `--only`. */
  name: string;
  /** Compiled server entry, relative to bench/dist/bench. */
  entry: string;
  args?: string[];
  env?: Record<string, string>;
  /** Needs Redis: the harness passes REDIS_URL and a unique BENCH_KEY_PREFIX, and deletes the keys after. */
  redis?: boolean;
  /**
   * Needs a Redis Cluster: the harness starts a private one (libs/sse-resume/src/testing/redis-cluster.ts) once
   * for the whole bench, passes REDIS_CLUSTER_NODES and BENCH_KEY_PREFIX, and flushes it after each run.
   */
  redisCluster?: boolean;
  /** How it honours Last-Event-ID / replays workload d's backlog. */
  resume: string;
}

/** Ratios in the tables are to this contender of the same run. */
export const BASELINE = 'raw';

export const CONTENDERS: readonly Contender[] = [
  { name: 'raw', entry: 'servers/raw.js', resume: 'in-process array (one write per event)' },
  {
    name: 'raw-batched',
    entry: 'servers/raw.js',
    args: ['--batched'],
    resume: 'in-process array (256 KiB writes, waits for drain)',
  },
  {
    name: 'nest-naive',
    entry: 'servers/nest-naive.js',
    resume: 'in-process array (concat before the Subject)',
  },
  { name: 'better-sse', entry: 'servers/better-sse.js', resume: 'in-process array (session.batch)' },
  { name: 'lib-memory', entry: 'servers/lib.js', resume: 'native (in-memory store)' },
  // Same server on @nestjs/platform-fastify (`/stream` rewritten by Fastify's `rewriteUrl`).
  {
    name: 'lib-memory-fastify',
    entry: 'servers/lib.js',
    args: ['--fastify'],
    resume: 'native (in-memory store; Nest on Fastify)',
  },
  // Same server with REDIS_URL: `store: 'redis'` (servers/lib.ts, storeOptions()).
  { name: 'lib-redis', entry: 'servers/lib.js', redis: true, resume: 'native (Redis store)' },
  // Same server with REDIS_CLUSTER_NODES: `store: 'redis'` with `redis: { nodes }`.
  {
    name: 'lib-redis-cluster',
    entry: 'servers/lib.js',
    redisCluster: true,
    resume: 'native (Redis store on a Redis Cluster: 3 primaries, 3 replicas)',
  },
  {
    name: 'resumable-stream',
    entry: 'servers/resumable-stream.js',
    redis: true,
    resume: 'native (character offset, via Redis pub/sub)',
  },
];

export type WorkloadId = 'a' | 'b' | 'c' | 'd' | 'e' | 'f' | 'g';

export interface Workload {
  id: WorkloadId;
  title: string;
  mode: ClientMode;
  subscribers: number;
  /** Events per subscriber (live), backlog (replay); per task for periodic / storm. */
  events: number;
  size: number;
  /** Streams spread over this many tasks (`/stream?task=K`); none = all on `/stream`. */
  tasks?: number;
  /** periodic / storm: events per second per task, for `seconds` (so events = rate x seconds). */
  rate?: number;
  seconds?: number;
  /** periodic / storm: client processes sharing the streams (each its own source address). */
  clients?: number;
  /** storm: the cut, this long after the periodic emitter started. */
  cutAfterMs?: number;
  /** Only these contenders run it (others are left out of its table); none = all. */
  contenders?: readonly string[];
  /** At most this many repeats of it (the profile's repeats otherwise). */
  repeats?: number;
}

export interface Profile {
  repeats: number;
  /** Per run (client side); a run past it is reported as failed. */
  timeoutMs: number;
  /** The whole bench: runs not started by then are skipped (and reported). */
  budgetMs: number;
  workloads: readonly Workload[];
}

function live(id: WorkloadId, subscribers: number, events: number, size: number): Workload {
  const kind = subscribers > 1 ? 'fan-out' : 'single subscriber';
  return {
    id,
    title: `${kind}: ${subscribers} x ${events} events x ${size} B`,
    mode: 'live',
    subscribers,
    events,
    size,
  };
}

function replay(events: number, size: number): Workload {
  return {
    id: 'd',
    title: `replay of a ${events}-event backlog x ${size} B to 1 subscriber`,
    mode: 'replay',
    subscribers: 1,
    events,
    size,
  };
}

function idle(subscribers: number, tasks: number): Workload {
  return {
    id: 'e',
    title: `${subscribers} idle subscribers over ${tasks} tasks, heartbeats on`,
    mode: 'idle',
    subscribers,
    events: 0,
    size: 0,
    tasks,
    // raw-batched is raw with another write path: for idle streams it is raw.
    contenders: CONTENDERS.map((c) => c.name).filter((name) => name !== 'raw-batched'),
  };
}

/** (f) and (g): the in-process contenders and the library on Redis (no cluster, no resumable-stream). */
const LIVE_AT_SCALE = ['raw', 'nest-naive', 'better-sse', 'lib-memory', 'lib-memory-fastify', 'lib-redis'];

function liveAtScale(subscribers: number, tasks: number, seconds: number, clients: number): Workload {
  const rate = 10;
  return {
    id: 'f',
    title: `${subscribers} live subscribers over ${tasks} tasks, ${rate} events/s per task for ${seconds} s x 100 B`,
    mode: 'periodic',
    subscribers,
    events: rate * seconds,
    size: 100,
    tasks,
    rate,
    seconds,
    clients,
    contenders: LIVE_AT_SCALE,
  };
}

function storm(
  subscribers: number,
  tasks: number,
  seconds: number,
  cutAfterMs: number,
  clients: number,
): Workload {
  return {
    ...liveAtScale(subscribers, tasks, seconds, clients),
    id: 'g',
    title: `reconnect storm: ${subscribers} streams over ${tasks} tasks (10 events/s per task, ${seconds} s) all cut at ${cutAfterMs / 1000} s and reopened at once with Last-Event-ID`,
    mode: 'storm',
    cutAfterMs,
    // nest-naive cannot sustain (f)'s rate on this machine (it delivers a fraction in the time
    // limit), so a storm on top of it would measure nothing more.
    contenders: LIVE_AT_SCALE.filter((name) => name !== 'nest-naive'),
  };
}

export const PROFILES: Record<'quick' | 'full', Profile> = {
  full: {
    repeats: 3,
    timeoutMs: 90_000,
    budgetMs: 40 * 60_000,
    workloads: [
      live('a', 1000, 2000, 100),
      live('b', 1, 200_000, 100),
      live('c', 100, 2000, 4096),
      replay(100_000, 100),
      idle(10_000, 100),
      // One repeat each (about 4 and 5 minutes): 10 000 sockets per run take most of the budget.
      { ...liveAtScale(10_000, 100, 20, 2), repeats: 1 },
      { ...storm(10_000, 100, 20, 6_000, 2), repeats: 1 },
    ],
  },
  quick: {
    repeats: 1,
    timeoutMs: 30_000,
    budgetMs: 8 * 60_000,
    workloads: [
      live('a', 300, 1000, 100),
      live('b', 1, 50_000, 100),
      live('c', 50, 1000, 4096),
      replay(50_000, 100),
      idle(2000, 20),
      liveAtScale(2000, 20, 8, 2),
      storm(2000, 20, 8, 3_000, 2),
    ],
  },
};

/** The targets, checked on the medians (they are defined for the full profile). */
export const TARGETS = {
  a: { vsRaw: 2.0, vsBetterSse: 4.0 },
  b: { vsRaw: 1.0 },
  c: { vsRaw: 1.0 },
  d: { vsRaw: 0.8 },
  /** Issue 14: RSS per idle subscriber at 10 000 over 100 tasks, heartbeats on, by adapter. */
  e: { maxBytesPerSubscriber: { 'lib-memory': 20 * 1024, 'lib-memory-fastify': 16 * 1024 } },
  /** Issue 14: 10 000 live subscribers, 100 tasks x 10 events/s: p99 delivery latency, no loss. */
  f: { maxP99Ms: 50, contenders: ['lib-memory', 'lib-memory-fastify', 'lib-redis'] },
  /** Issue 14: reconnect storm: every stream resumes exactly; refusals only 429 / 503 with Retry-After. */
  g: { contenders: ['lib-memory', 'lib-memory-fastify', 'lib-redis'] },
  redisA: { vsRaw: 1.0 },
  /** Issue 13: the Redis path (one node and Cluster) at memory speed. */
  redisB: { vsRaw: 1.0, maxP99Ms: 50 },
  redisD: { vsRaw: 1.0 },
} as const;
