import { TaskExpiredError, TaskNotFoundError } from '../../errors';
import type { TaskStatus } from '../../interfaces/task-status.interface';
import type { FrameSlice, HistorySlice, TaskLookup, TaskRecord } from '../../interfaces/task-store.interface';
import { TaskEvent } from '../../task-event';
import type { RedisConnections } from './redis-connections';
import type { RedisKeyspace } from './redis-keyspace';
import type { HistoryBounds, RecentSlice, RedisRecentHistory } from './redis-recent-history';
import { SCRIPTS } from './redis-scripts';

/**
 * Reads tasks from Redis: their records, the resume-key index and their history. History
 * of a task this instance owns comes from its copy in memory when that holds it (see
 * redis-recent-history.ts): then only the bounds are read from Redis.
 */
export class RedisTaskReader {
  constructor(
    private readonly connections: RedisConnections,
    private readonly keys: RedisKeyspace,
    private readonly recent?: RedisRecentHistory,
  ) {}

  async lookup(taskId: string): Promise<TaskLookup> {
    return this.connections.call(async () => {
      const [meta, gone] = await this.connections.pipelined<[Record<string, string>, string | null]>((p) =>
        p.hgetall(this.keys.taskKey(taskId, 'meta')).get(this.keys.taskKey(taskId, 'gone')),
      );
      if (meta && meta.status !== undefined) return { state: 'found', task: toRecord(meta) };
      if (gone !== null) return { state: 'expired', taskId, keyHash: gone };
      return { state: 'missing' };
    }, taskId);
  }

  async findTaskIdByKeyHash(keyHash: string): Promise<string | undefined> {
    return this.connections.call(async () => {
      // One bucket per GET (on a Cluster they are in different slots), sent at once.
      const found = await Promise.all(
        this.keys.keyIndexes(keyHash).map((key) => this.connections.client.get(key)),
      );
      return found.find((taskId) => taskId !== null) ?? undefined;
    });
  }

  async readFrames(taskId: string, afterId: number, limit: number, maxChars: number): Promise<FrameSlice> {
    const local = await this.readRecent(taskId, afterId, limit, maxChars);
    if (local) {
      const { slice, bounds } = local;
      const last = slice.events[slice.events.length - 1];
      return {
        text: slice.text,
        count: slice.events.length,
        lastId: last?.seq ?? afterId,
        ended: slice.ended,
        firstEventId: bounds.firstEventId,
        lastEventId: bounds.lastEventId,
      };
    }
    return this.connections.call(async () => {
      const reply = (await this.connections.eval(SCRIPTS.readFrames, this.keys.taskKeys(taskId), [
        afterId,
        Math.max(1, limit),
        Math.max(1, maxChars),
      ])) as [string, string, number, string, number, string];
      const [first, last, count, lastId, ended, text] = reply;
      return {
        text,
        count: Number(count),
        lastId: Number(lastId),
        ended: Number(ended) === 1,
        firstEventId: Number(first),
        lastEventId: Number(last),
      };
    }, taskId);
  }

  async read(taskId: string, afterId: number, limit: number): Promise<HistorySlice> {
    const local = limit > 0 ? await this.readRecent(taskId, afterId, limit) : undefined;
    if (local) return { events: local.slice.events, ...local.bounds };
    return this.connections.call(async () => {
      // A transaction: the events and the bounds must come from the same moment, or a trim
      // in between would look like a gap inside events that were returned.
      const [entries, bounds, gone] = await this.connections.pipelined<
        [[string, string[]][], (string | null)[], number]
      >(
        (p) =>
          p
            .xrange(this.keys.taskKey(taskId, 'events'), `${afterId + 1}-0`, '+', 'COUNT', Math.max(1, limit))
            .hmget(this.keys.taskKey(taskId, 'meta'), 'firstEventId', 'lastEventId')
            .exists(this.keys.taskKey(taskId, 'gone')),
        true,
      );
      if (bounds[0] === null || bounds[1] === null) {
        throw gone ? new TaskExpiredError(taskId) : new TaskNotFoundError(taskId);
      }
      const firstEventId = Number(bounds[0]);
      const lastEventId = Number(bounds[1]);
      const events: TaskEvent[] = [];
      for (const [id, fields] of limit > 0 ? entries : []) {
        const seq = Number(id.slice(0, id.indexOf('-')));
        if (seq > lastEventId) break; // appended after the bounds were read
        events.push(new TaskEvent(seq, fields[1] ?? '', fields[3] ?? ''));
      }
      return { events, firstEventId, lastEventId };
    }, taskId);
  }

  /**
   * The history after `afterId` from this instance's copy, with the bounds Redis has now;
   * `undefined` when there is no copy or it lacks the start (the caller reads Redis).
   */
  private async readRecent(
    taskId: string,
    afterId: number,
    limit: number,
    maxChars?: number,
  ): Promise<{ slice: RecentSlice; bounds: HistoryBounds } | undefined> {
    if (!this.recent?.has(taskId)) return undefined;
    const bounds = await this.bounds(taskId);
    const slice = this.recent.slice(taskId, afterId, bounds, limit, maxChars);
    return slice && { slice, bounds };
  }

  /** The ids of the first and last events in history, as Redis has them now. */
  private bounds(taskId: string): Promise<HistoryBounds> {
    return this.connections.call(async () => {
      const [bounds, gone] = await this.connections.pipelined<[(string | null)[], number]>((p) =>
        p
          .hmget(this.keys.taskKey(taskId, 'meta'), 'firstEventId', 'lastEventId')
          .exists(this.keys.taskKey(taskId, 'gone')),
      );
      if (bounds[0] == null || bounds[1] == null) {
        throw gone ? new TaskExpiredError(taskId) : new TaskNotFoundError(taskId);
      }
      return { firstEventId: Number(bounds[0]), lastEventId: Number(bounds[1]) };
    }, taskId);
  }
}

function toRecord(meta: Record<string, string>): TaskRecord {
  const num = (name: string, fallback = 0) => (meta[name] === undefined ? fallback : Number(meta[name]));
  const record: TaskRecord = {
    taskId: meta.taskId ?? '',
    keyHash: meta.keyHash ?? '',
    status: (meta.status ?? 'running') as TaskStatus,
    createdAt: num('createdAt'),
    updatedAt: num('updatedAt'),
    expiresAt: meta.expiresAt === undefined ? null : num('expiresAt'),
    lastEventId: num('lastEventId'),
    firstEventId: num('firstEventId', 1),
    endEventId: meta.endEventId === undefined ? null : num('endEventId'),
  };
  if (meta.error !== undefined) record.error = meta.error;
  if (meta.owner) record.ownerId = meta.owner;
  if (meta.durable === '1') {
    record.durable = true;
    record.attempt = num('attempt');
  }
  if (meta.metadata) record.metadata = JSON.parse(meta.metadata) as Record<string, string>;
  return record;
}
