import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { dataOf, idOf, type SseFrame } from '@app/sse-resume/testing/sse';
import { type ChildApp, killChildApp, startChildApp, startChildWorker } from '../utils/child-app';

/** The shared Redis of the e2e run. */
export const REDIS_HOST = '127.0.0.1';
export const REDIS_PORT = 6379;
export const REDIS_URL = `redis://${REDIS_HOST}:${REDIS_PORT}`;

/** The runtime's log line when a worker starts an attempt (with `taskId` and `attempt`). */
export const ATTEMPT_STARTED = 'durable attempt started';

/**
 * Environment of one spec file's processes: Redis with a key prefix and a BullMQ queue of its
 * own, a 2 s job lock checked every second (takeovers within ~3 s), JSON logs (parsed below,
 * and checked for secrets by the run's log check).
 */
export function durableEnv(name: string, extra: Record<string, string> = {}): Record<string, string> {
  const suffix = randomBytes(4).toString('hex');
  return {
    REDIS_URL,
    REDIS_KEY_PREFIX: `app-${name}-${suffix}:`,
    DURABLE_QUEUE: `app-${name}-${suffix}`,
    DURABLE_LOCK_MS: '2000',
    DURABLE_STALLED_INTERVAL_MS: '1000',
    LOG_JSON: '1',
    METRICS: 'off',
    ...extra,
  };
}

/** Worker processes and HTTP instances (`TASK_WORKERS=0`) sharing one Redis prefix and queue. */
export interface DurableCluster {
  env: Record<string, string>;
  workers: ChildApp[];
  http: ChildApp[];
  /** Kills every process still running, then deletes the keys of the prefix and the queue. */
  close(): Promise<void>;
}

export async function startDurableCluster(
  env: Record<string, string>,
  { workers, http }: { workers: number; http: number },
): Promise<DurableCluster> {
  const started = await Promise.allSettled([
    ...Array.from({ length: workers }, () => startChildWorker(env)),
    ...Array.from({ length: http }, () => startChildApp({ ...env, TASK_WORKERS: '0' })),
  ]);
  const apps = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const close = async (): Promise<void> => {
    await Promise.all(apps.map((app) => killChildApp(app)));
    await deleteKeys(env);
  };
  const failed = started.find((result) => result.status === 'rejected');
  if (failed) {
    await close();
    throw failed.reason;
  }
  return { env, workers: apps.slice(0, workers), http: apps.slice(workers), close };
}

/** Deletes the store's keys (`REDIS_KEY_PREFIX*`) and BullMQ's (`bull:<DURABLE_QUEUE>:*`). */
export async function deleteKeys(env: Record<string, string>): Promise<void> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    for (const pattern of [`${env.REDIS_KEY_PREFIX}*`, `bull:${env.DURABLE_QUEUE}:*`]) {
      for await (const batch of redis.scanStream({ match: pattern, count: 1000 })) {
        const keys = batch as string[];
        if (keys.length > 0) await redis.unlink(...keys);
      }
    }
  } finally {
    redis.disconnect();
  }
}

/** A JSON log record of a child (`LOG_JSON=1`); a structured message's fields are spread out. */
export interface LogRecord {
  pid: number;
  level: string;
  context: string | undefined;
  message: string;
  fields: Record<string, unknown>;
}

export function logRecords(app: ChildApp): LogRecord[] {
  const records: LogRecord[] = [];
  for (const line of app.output().split('\n')) {
    if (!line.startsWith('{')) continue;
    let record: { pid?: number; level?: string; context?: string; message?: unknown };
    try {
      record = JSON.parse(line) as typeof record;
    } catch {
      continue; // a line cut by a kill
    }
    const message = record.message;
    const fields =
      typeof message === 'object' && message !== null ? (message as Record<string, unknown>) : { message };
    records.push({
      pid: record.pid ?? 0,
      level: record.level ?? '',
      context: record.context,
      message: String(fields.message),
      fields,
    });
  }
  return records;
}

/** The workers that logged the start of an attempt of `taskId`, with the attempt, in log order per worker. */
export function attemptStarts(workers: ChildApp[], taskId: string): { worker: ChildApp; attempt: number }[] {
  return workers.flatMap((worker) =>
    logRecords(worker)
      .filter((record) => record.message.includes(ATTEMPT_STARTED) && record.fields.taskId === taskId)
      .map((record) => ({ worker, attempt: Number(record.fields.attempt) })),
  );
}

/** Polls `probe` every 20 ms until it returns something other than `undefined`/`false`. */
export async function waitFor<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** An event of a stream, its data parsed. */
export interface StreamEvent {
  id: number;
  type: string;
  data: Record<string, unknown>;
}

export function streamEvents(frames: SseFrame[]): StreamEvent[] {
  return frames.map((frame) => ({
    id: idOf(frame),
    type: frame.event ?? 'message',
    data: dataOf<Record<string, unknown>>(frame),
  }));
}

/** The `step` of every `progress` event, in stream order. */
export function progressSteps(events: StreamEvent[]): number[] {
  return events.filter((event) => event.type === 'progress').map((event) => Number(event.data.step));
}

/** 1, 2, ..., n */
export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}
