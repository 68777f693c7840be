import type { QueueRedis } from './queue-connection';
import { streamIdAfter } from './queue-stream-ids';

/** What a job is now, read from BullMQ's keys (hash, finished sets, logs). */
export interface JobSnapshot {
  /** JSON text of the progress, if the job ever reported one. */
  progress: string | undefined;
  /** Set once the job completed or failed for good. */
  finished:
    | { status: 'completed'; result: string | undefined }
    | { status: 'failed'; reason: string }
    | undefined;
  /** Throws so far (BullMQ's `attemptsMade`). */
  attemptsMade: number;
  /** Times its worker was lost so far (BullMQ's `stalledCounter`). */
  stalledCounter: number;
  /** The last error message, kept by BullMQ across retries. */
  failedReason: string | undefined;
  /** Id of the events stream's newest entry when the job was read (`0-0`: none): the state is as of it. */
  at: string;
}

/** One entry of a queue's events stream: its id and fields (`event`, `jobId`, ...). */
export interface QueueStreamEntry {
  id: string;
  fields: Record<string, string>;
}

/**
 * Reads one BullMQ queue's keys with plain commands (no BullMQ connection): a job's state
 * and logs, and the queue's events stream. Key names come from BullMQ's own `QueueKeys`.
 */
export class QueueJobReader {
  constructor(
    private readonly redis: QueueRedis,
    /** `<prefix>:<queue>`, BullMQ's qualified name of the queue. */
    private readonly queueKey: string,
  ) {}

  /** `<prefix>:<queue>:events` */
  get eventsKey(): string {
    return `${this.queueKey}:events`;
  }

  jobKey(jobId: string): string {
    return `${this.queueKey}:${jobId}`;
  }

  /**
   * The job now, or `undefined` if it does not exist (never added, or removed), read in
   * one MULTI with the events stream's newest id, so that the state is exactly "as of" it.
   * (BullMQ keeps a queue's keys in one hash slot, so this works on a cluster too.)
   */
  async snapshot(jobId: string): Promise<JobSnapshot | undefined> {
    const key = this.jobKey(jobId);
    const replies = await this.redis
      .multi()
      .xrevrange(this.eventsKey, '+', '-', 'COUNT', 1)
      .hmget(key, 'progress', 'returnvalue', 'failedReason', 'atm', 'stc', 'timestamp')
      .zscore(`${this.queueKey}:completed`, jobId)
      .zscore(`${this.queueKey}:failed`, jobId)
      .exec();
    const [newest, hash, completed, failed] = (replies ?? []).map(([err, value]) => {
      if (err) throw err;
      return value;
    }) as [[string, string[]][], (string | null)[], string | null, string | null];
    const [progress, returnvalue, failedReason, atm, stc, timestamp] = hash;
    if (timestamp === null || timestamp === undefined) return undefined; // every BullMQ job hash has one
    let finished: JobSnapshot['finished'];
    if (completed !== null) finished = { status: 'completed', result: returnvalue ?? undefined };
    else if (failed !== null) finished = { status: 'failed', reason: failedReason ?? 'Job failed' };
    return {
      progress: progress ?? undefined,
      finished,
      attemptsMade: Number(atm ?? 0),
      stalledCounter: Number(stc ?? 0),
      failedReason: failedReason ?? undefined,
      at: newest[0]?.[0] ?? '0-0',
    };
  }

  /**
   * Id of the job's newest `progress` entry at or before `at`, looking back `window`
   * entries at most; `undefined` if none there.
   */
  async lastProgressId(jobId: string, at: string, window = 200): Promise<string | undefined> {
    if (at === '0-0') return undefined;
    const entries = (await this.redis.xrevrange(this.eventsKey, at, '-', 'COUNT', window)) as [
      string,
      string[],
    ][];
    return toEntries(entries).find((e) => e.fields.event === 'progress' && e.fields.jobId === jobId)?.id;
  }

  /** The job's log lines from index `from` on (BullMQ's `job.log()` list). */
  logs(jobId: string, from: number): Promise<string[]> {
    return this.redis.lrange(`${this.jobKey(jobId)}:logs`, from, -1);
  }

  /** Id of the newest entry of the events stream, `0-0` when it is empty or missing. */
  async lastStreamId(): Promise<string> {
    const newest = await this.redis.xrevrange(this.eventsKey, '+', '-', 'COUNT', 1);
    return newest[0]?.[0] ?? '0-0';
  }

  /**
   * Whether entries after `cursor` may have been trimmed (MAXLEN) before they were read:
   * newer entries were added, and the oldest one kept is past the cursor. (Conservative:
   * when only the cursor's own entry went, nothing was lost, but that cannot be told apart.)
   */
  async trimmedAfter(cursor: string): Promise<boolean> {
    const info = (await this.redis.call('XINFO', 'STREAM', this.eventsKey).catch((err: Error) => {
      if (/no such key/i.test(err.message)) return [];
      throw err;
    })) as unknown[];
    const field = (name: string): unknown => {
      const at = info.indexOf(name);
      return at >= 0 ? info[at + 1] : undefined;
    };
    if (field('entries-added') === field('length')) return false; // never trimmed
    const lastGenerated = field('last-generated-id');
    if (typeof lastGenerated !== 'string' || !streamIdAfter(lastGenerated, cursor)) return false;
    const first = field('first-entry');
    if (!Array.isArray(first) || typeof first[0] !== 'string') return true; // all of them gone
    return streamIdAfter(first[0], cursor);
  }
}

/** XREAD's reply for one stream as entries with field maps. */
export function toEntries(raw: [string, string[]][]): QueueStreamEntry[] {
  return raw.map(([id, list]) => {
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < list.length; i += 2) fields[list[i] as string] = list[i + 1] as string;
    return { id, fields };
  });
}
