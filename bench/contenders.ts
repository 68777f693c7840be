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

export type WorkloadId = 'a' | 'b' | 'c' | 'd' | 'e';

export interface Workload {
  id: WorkloadId;
  title: string;
  mode: ClientMode;
  subscribers: number;
  /** Events per subscriber (live), backlog (replay). */
  events: number;
  size: number;
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

function idle(subscribers: number): Workload {
  return {
    id: 'e',
    title: `${subscribers} idle subscribers on one task`,
    mode: 'idle',
    subscribers,
    events: 0,
    size: 0,
  };
}

export const PROFILES: Record<'quick' | 'full', Profile> = {
  full: {
    repeats: 3,
    timeoutMs: 90_000,
    budgetMs: 25 * 60_000,
    workloads: [
      live('a', 1000, 2000, 100),
      live('b', 1, 200_000, 100),
      live('c', 100, 2000, 4096),
      replay(100_000, 100),
      idle(10_000),
    ],
  },
  quick: {
    repeats: 1,
    timeoutMs: 30_000,
    budgetMs: 4 * 60_000,
    workloads: [
      live('a', 300, 1000, 100),
      live('b', 1, 50_000, 100),
      live('c', 50, 1000, 4096),
      replay(50_000, 100),
      idle(2000),
    ],
  },
};

/** The targets, checked on the medians (they are defined for the full profile). */
export const TARGETS = {
  a: { vsRaw: 2.0, vsBetterSse: 4.0 },
  b: { vsRaw: 1.0 },
  c: { vsRaw: 1.0 },
  d: { vsRaw: 0.8 },
  e: { maxBytesPerSubscriber: 4096 },
  redisA: { vsRaw: 1.0 },
  /** Issue 13: the Redis path (one node and Cluster) at memory speed. */
  redisB: { vsRaw: 1.0, maxP99Ms: 50 },
  redisD: { vsRaw: 1.0 },
} as const;
