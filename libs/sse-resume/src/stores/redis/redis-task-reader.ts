import { TaskExpiredError, TaskNotFoundError } from '../../errors';
import type { TaskStatus } from '../../interfaces/task-status.interface';
import type { FrameSlice, HistorySlice, TaskLookup, TaskRecord } from '../../interfaces/task-store.interface';
import { TaskEvent } from '../../task-event';
import type { RedisConnections } from './redis-connections';
import type { RedisKeyspace } from './redis-keyspace';
import { SCRIPTS } from './redis-scripts';

/** Reads tasks from Redis: their records, the resume-key index and their history. */
export class RedisTaskReader {
  constructor(
    private readonly connections: RedisConnections,
    private readonly keys: RedisKeyspace,
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
  if (meta.metadata) record.metadata = JSON.parse(meta.metadata) as Record<string, string>;
  return record;
}
