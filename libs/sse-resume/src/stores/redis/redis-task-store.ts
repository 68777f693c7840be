import { Logger } from '@nestjs/common';
import { createHash, randomUUID } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { END_EVENT, STORE_FULL_RETRY_SECONDS } from '../../sse-resume.constants';
import { TaskEvent } from '../../task-event';
import {
  SseResumeError,
  StoreFullError,
  StoreUnavailableError,
  TaskExpiredError,
  TaskNotFoundError,
  TaskNotRunningError,
  TooManyTasksError,
} from '../../errors';
import { isTerminalStatus, type TaskStatus } from '../../interfaces/task-status.interface';
import type {
  FrameSlice,
  HistorySlice,
  NewTaskRecord,
  TaskEndedListener,
  TaskEventListener,
  TaskLookup,
  TaskRecord,
  TaskStore,
  TaskStoreLimits,
  TaskTermination,
} from '../../interfaces/task-store.interface';
import type { RedisTaskStoreOptions } from './redis-task-store.options';
import {
  APPEND_SCRIPT,
  CREATE_SCRIPT,
  EXPIRE_FINISHED_SCRIPT,
  FINISH_SCRIPT,
  READ_FRAMES_SCRIPT,
  RENEW_SCRIPT,
} from './redis-scripts';
import { retryWrite, type WriteRetryContext } from './redis-write-retry';
import { LOGGER_NAME } from '../../sse-resume.messages';

interface Script {
  readonly lua: string;
  readonly sha: string;
}

function script(lua: string): Script {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

const SCRIPTS = {
  append: script(APPEND_SCRIPT),
  finish: script(FINISH_SCRIPT),
  create: script(CREATE_SCRIPT),
  renew: script(RENEW_SCRIPT),
  readFrames: script(READ_FRAMES_SCRIPT),
  expireFinished: script(EXPIRE_FINISHED_SCRIPT),
};

/** Events sent in one APPEND call at most (more wait for the next call). */
const MAX_BATCH_EVENTS = 512;
const MAX_BATCH_CHARS = 4 * 1024 * 1024;

type PendingOp =
  | {
      kind: 'append';
      type: string;
      data: string;
      size: number;
      resolve: (event: TaskEvent) => void;
      reject: (err: unknown) => void;
    }
  | {
      kind: 'finish';
      termination: TaskTermination;
      resolve: (event: TaskEvent | undefined) => void;
      reject: (err: unknown) => void;
    };

/** Writes of one task from this instance: one Redis call in flight at a time keeps their order. */
interface WriteQueue {
  ops: PendingOp[];
  busy: boolean;
}

interface Watch {
  entries: Set<{ listener: TaskEventListener; onInterrupted?: () => void }>;
  ready: Promise<void>;
}

/**
 * Tasks in Redis, shared by every instance that uses the same Redis and prefix.
 * - Per task: a hash (metadata; the resume key only as SHA-256), a stream of events (ids
 *   assigned by the Lua script that appends, trimmed exactly to the history limits) and an
 *   expiry record; all under the hash tag `{taskId}`, so the store works on Redis Cluster.
 * - Append + publish is one script: ids can never be reused or interleaved.
 * - Live events: one pub/sub connection per instance, one channel subscription per task
 *   with local subscribers, fanned out locally by the hub.
 * - The instance running a task holds a lease (renewed every `leaseMs / 3`) and a fencing
 *   token checked by every write; the scheduled job of any instance fails tasks whose lease
 *   lapsed, naming the lost owner.
 * - Finished tasks expire by `PEXPIRE`; the expiry record outlives them so clients get 410.
 */
export class RedisTaskStore implements TaskStore {
  readonly kind = 'redis';
  readonly shared: boolean = true;
  readonly replayChunk = 4096;
  readonly maintenanceIntervalMs: number;
  private readonly logger = new Logger(LOGGER_NAME);
  private readonly client: Redis;
  private readonly subscriber: Redis;
  private readonly ownsClient: boolean;
  private readonly prefix: string;
  private readonly leaseMs: number;
  private readonly connectTimeoutMs: number;
  private readonly retry: WriteRetryContext;
  /** Names this instance's writes (with `writes`), so that a retried write is applied once. */
  private readonly writerId = randomUUID();
  private writes = 0;
  private readonly watches = new Map<string, Watch>();
  private readonly queues = new Map<string, WriteQueue>();
  /** Fencing tokens of the running tasks this instance owns. */
  private readonly owned = new Map<string, string>();
  private readonly endedListeners = new Set<TaskEndedListener>();
  private renewTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private lastErrorLog = 0;

  constructor(
    private readonly limits: TaskStoreLimits,
    options: RedisTaskStoreOptions = {},
  ) {
    this.prefix = options.keyPrefix ?? 'sse:';
    this.leaseMs = options.leaseMs ?? 10_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.retry = {
      retryMs: options.writeRetryMs ?? 10_000,
      isClosed: () => this.closed,
      waitForConnection: (ms) => waitUntilReady(this.client, ms),
    };
    this.maintenanceIntervalMs = Math.max(1, Math.floor(this.leaseMs / 2));
    // Fail fast while Redis is away (503 to the client) instead of queueing commands.
    const connection: RedisOptions = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (times) => Math.min(100 * times, 2_000),
    };
    if (options.client) {
      this.client = options.client;
      this.ownsClient = false;
    } else {
      this.client = new Redis(options.url ?? 'redis://127.0.0.1:6379', { ...connection, lazyConnect: true });
      this.ownsClient = true;
    }
    this.subscriber = this.client.duplicate({ ...connection, autoResubscribe: false, lazyConnect: true });
    this.client.on('error', (err: Error) => this.logConnectionError('command', err));
    this.subscriber.on('error', (err: Error) => this.logConnectionError('subscriber', err));
    this.subscriber.on('message', (channel: string, message: string) => this.onMessage(channel, message));
    this.subscriber.on('close', () => this.interruptWatches());
    let subscriberReadyBefore = false;
    this.subscriber.on('ready', () => {
      this.subscriber
        .subscribe(this.controlChannel)
        .catch((err: unknown) => this.logConnectionError('subscriber', err));
      // "ended" notices published while the subscriber was away are lost: ask instead.
      if (subscriberReadyBefore) void this.reconcileOwned([...this.owned.keys()]);
      subscriberReadyBefore = true;
    });
  }

  async init(): Promise<void> {
    const connect = async (redis: Redis) => {
      if (redis.status === 'wait') await redis.connect();
      else if (redis.status !== 'ready') await onceReady(redis);
    };
    try {
      await withTimeout(Promise.all([connect(this.client), connect(this.subscriber)]), this.connectTimeoutMs);
    } catch (err) {
      this.logger.warn(
        `Redis is not reachable yet (${errorMessage(err)}); requests get 503 until it is, the store keeps retrying`,
      );
    }
    this.renewTimer = setInterval(() => void this.renewLeases(), Math.max(1, Math.floor(this.leaseMs / 3)));
    this.renewTimer.unref();
  }

  async create(task: NewTaskRecord): Promise<void> {
    await this.call(async () => {
      // One script counts and admits (concurrent creates cannot overshoot maxTasks), takes
      // the fencing token, lists the task for the reaper and indexes its key.
      const [, fence] = (await this.eval(
        SCRIPTS.create,
        [...this.taskKeys(task.taskId), ...this.globalKeys(), this.key('fence'), this.keyIndex(task.keyHash)],
        [
          task.taskId,
          task.keyHash,
          task.ownerId ?? '',
          this.leaseMs,
          task.createdAt,
          task.metadata === undefined ? '' : JSON.stringify(task.metadata),
          this.limits.maxTasks,
          this.limits.historyBudgetBytes,
          this.prefix,
          STORE_FULL_RETRY_SECONDS,
        ],
      )) as [number, number];
      if (task.ownerId !== undefined) this.owned.set(task.taskId, String(fence));
    }, task.taskId);
  }

  async lookup(taskId: string): Promise<TaskLookup> {
    return this.call(async () => {
      const [meta, gone] = await this.pipelined<[Record<string, string>, string | null]>((p) =>
        p.hgetall(this.taskKey(taskId, 'meta')).get(this.taskKey(taskId, 'gone')),
      );
      if (meta && meta.status !== undefined) return { state: 'found', task: toRecord(meta) };
      if (gone !== null) return { state: 'expired', taskId, keyHash: gone };
      return { state: 'missing' };
    }, taskId);
  }

  async findTaskIdByKeyHash(keyHash: string): Promise<string | undefined> {
    return this.call(async () => (await this.client.get(this.keyIndex(keyHash))) ?? undefined);
  }

  append(taskId: string, type: string, data: string): Promise<TaskEvent> {
    return new Promise((resolve, reject) => {
      const size = Buffer.byteLength(data) + type.length;
      this.enqueue(taskId, { kind: 'append', type, data, size, resolve, reject });
    });
  }

  finish(taskId: string, termination: TaskTermination): Promise<TaskEvent | undefined> {
    return new Promise((resolve, reject) => {
      this.enqueue(taskId, { kind: 'finish', termination, resolve, reject });
    });
  }

  async readFrames(taskId: string, afterId: number, limit: number, maxChars: number): Promise<FrameSlice> {
    return this.call(async () => {
      const reply = (await this.eval(SCRIPTS.readFrames, this.taskKeys(taskId), [
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
    return this.call(async () => {
      // A transaction: the events and the bounds must come from the same moment, or a trim
      // in between would look like a gap inside events that were returned.
      const [entries, bounds, gone] = await this.pipelined<[[string, string[]][], (string | null)[], number]>(
        (p) =>
          p
            .xrange(this.taskKey(taskId, 'events'), `${afterId + 1}-0`, '+', 'COUNT', Math.max(1, limit))
            .hmget(this.taskKey(taskId, 'meta'), 'firstEventId', 'lastEventId')
            .exists(this.taskKey(taskId, 'gone')),
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

  async watch(taskId: string, listener: TaskEventListener, onInterrupted?: () => void): Promise<() => void> {
    const channel = this.taskKey(taskId, 'live');
    let watch = this.watches.get(channel);
    if (!watch) {
      const created: Watch = { entries: new Set(), ready: Promise.resolve() };
      created.ready = this.call(async () => {
        await this.subscriber.subscribe(channel);
        const [exists, gone] = await this.pipelined<[number, number]>((p) =>
          p.exists(this.taskKey(taskId, 'meta')).exists(this.taskKey(taskId, 'gone')),
        );
        if (!exists) throw gone ? new TaskExpiredError(taskId) : new TaskNotFoundError(taskId);
      }, taskId).catch((err: unknown) => {
        if (this.watches.get(channel) === created) {
          this.watches.delete(channel);
          this.subscriber.unsubscribe(channel).catch(() => undefined);
        }
        throw err;
      });
      this.watches.set(channel, created);
      watch = created;
    }
    await watch.ready;
    const current = watch;
    // The subscriber connection dropped while the watch was set up (its channel is gone with it).
    if (this.watches.get(channel) !== current) {
      throw new StoreUnavailableError(`live events of task ${taskId} were interrupted while subscribing`);
    }
    const entry = { listener, onInterrupted };
    current.entries.add(entry);
    return () => {
      current.entries.delete(entry);
      if (current.entries.size === 0 && this.watches.get(channel) === current) {
        this.watches.delete(channel);
        this.subscriber.unsubscribe(channel).catch(() => undefined);
      }
    };
  }

  /**
   * Subtracts the bytes of finished tasks whose TTL has passed (their keys expire by
   * PEXPIRE), and fails running tasks whose owner stopped renewing its lease.
   */
  async evictExpired(): Promise<number> {
    return this.call(async () => {
      for (let batch = 0; batch < 10; batch++) {
        const forgotten = Number(await this.eval(SCRIPTS.expireFinished, this.globalKeys(), [1000]));
        if (forgotten < 1000) break;
      }
      const [seconds, micros] = await this.client.time();
      const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
      const lapsed = await this.client.zrangebyscore(this.key('running'), '-inf', now, 'LIMIT', 0, 1000);
      let reaped = 0;
      for (const taskId of lapsed) {
        const [status, owner] = await this.client.hmget(this.taskKey(taskId, 'meta'), 'status', 'owner');
        if (status === 'running') {
          const error = `owner instance ${owner || '(unknown)'} lost: its lease lapsed`;
          const data = JSON.stringify({ status: 'failed', error });
          const result = await this.eval(
            SCRIPTS.finish,
            [...this.taskKeys(taskId), ...this.globalKeys()],
            this.finishArgs(taskId, '', { status: 'failed', data, error }, '1', ''),
          );
          if (result === null) continue; // the owner renewed meanwhile
          reaped++;
          this.logger.warn(`task ${taskId} failed: ${error}`);
        }
        await this.client.zrem(this.key('running'), taskId);
      }
      return reaped;
    });
  }

  onTaskEnded(listener: TaskEndedListener): () => void {
    this.endedListeners.add(listener);
    return () => this.endedListeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.watches.clear();
    this.endedListeners.clear();
    await Promise.all([closeConnection(this.subscriber), this.ownsClient && closeConnection(this.client)]);
  }

  // ---- writes -------------------------------------------------------------------------

  private enqueue(taskId: string, op: PendingOp): void {
    let queue = this.queues.get(taskId);
    if (!queue) {
      queue = { ops: [], busy: false };
      this.queues.set(taskId, queue);
    }
    queue.ops.push(op);
    if (!queue.busy) {
      queue.busy = true;
      // Let the rest of this turn's writes join the same call.
      queueMicrotask(() => void this.drain(taskId, queue));
    }
  }

  private async drain(taskId: string, queue: WriteQueue): Promise<void> {
    while (queue.ops.length > 0) {
      // Take everything queued so far; writes queued meanwhile wait for the next round.
      const ops = queue.ops;
      queue.ops = [];
      let i = 0;
      while (i < ops.length) {
        const first = ops[i]!;
        if (first.kind === 'finish') {
          i++;
          await this.runFinish(taskId, first);
          continue;
        }
        const batch: Extract<PendingOp, { kind: 'append' }>[] = [];
        let chars = 0;
        while (i < ops.length && batch.length < MAX_BATCH_EVENTS && chars < MAX_BATCH_CHARS) {
          const next = ops[i]!;
          if (next.kind !== 'append') break;
          batch.push(next);
          chars += next.data.length;
          i++;
        }
        await this.runAppend(taskId, batch);
      }
    }
    queue.busy = false;
    if (this.queues.get(taskId) === queue) this.queues.delete(taskId);
  }

  private async runAppend(taskId: string, batch: Extract<PendingOp, { kind: 'append' }>[]): Promise<void> {
    const args: (string | number)[] = [
      this.owned.get(taskId) ?? '',
      this.limits.historyLimit,
      this.limits.historyBytes,
      this.taskKey(taskId, 'live'),
      this.prefix,
      this.limits.historyBudgetBytes,
      this.writerId,
      ++this.writes,
      batch.length,
    ];
    for (const op of batch) args.push(op.type, op.data, op.size);
    const keys = [...this.taskKeys(taskId), ...this.globalKeys()];
    try {
      // Retried across a reconnect with the same token: applied once (see the script).
      const first = Number(
        await retryWrite(() => this.call(() => this.eval(SCRIPTS.append, keys, args), taskId), this.retry),
      );
      batch.forEach((op, i) => op.resolve(new TaskEvent(first + i, op.type, op.data)));
    } catch (err) {
      for (const op of batch) op.reject(err);
    }
  }

  private async runFinish(taskId: string, op: Extract<PendingOp, { kind: 'finish' }>): Promise<void> {
    const { termination } = op;
    const args = this.finishArgs(taskId, this.owned.get(taskId) ?? '', termination, '', ++this.writes);
    const keys = [...this.taskKeys(taskId), ...this.globalKeys()];
    try {
      const result = await retryWrite(
        () => this.call(() => this.eval(SCRIPTS.finish, keys, args), taskId),
        this.retry,
      );
      this.owned.delete(taskId);
      if (result === null) return op.resolve(undefined);
      op.resolve(new TaskEvent(Number(result), END_EVENT, termination.data));
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) this.owned.delete(taskId);
      op.reject(err);
    }
  }

  private finishArgs(
    taskId: string,
    fence: string,
    termination: TaskTermination,
    requireLapsedLease: '' | '1',
    write: number | '',
  ): (string | number)[] {
    return [
      fence,
      termination.status,
      termination.data,
      termination.error ?? '',
      this.limits.ttl,
      this.limits.expiredRetentionMs,
      this.limits.historyLimit,
      this.limits.historyBytes,
      this.taskKey(taskId, 'live'),
      this.controlChannel,
      taskId,
      requireLapsedLease,
      this.prefix,
      this.limits.historyBudgetBytes,
      write === '' ? '' : this.writerId,
      write,
    ];
  }

  private async renewLeases(): Promise<void> {
    if (this.owned.size === 0 || this.client.status !== 'ready') return;
    const owned = [...this.owned];
    try {
      const pipeline = this.client.pipeline();
      for (const [taskId, fence] of owned) {
        pipeline.evalsha(SCRIPTS.renew.sha, 1, this.taskKey(taskId, 'meta'), fence, this.leaseMs);
      }
      let results = await pipeline.exec();
      if (results?.some(([err]) => err && /NOSCRIPT/.test(err.message))) {
        await this.client.script('LOAD', SCRIPTS.renew.lua);
        results = await this.client
          .pipeline(
            owned.map(([taskId, fence]) => [
              'evalsha',
              SCRIPTS.renew.sha,
              1,
              this.taskKey(taskId, 'meta'),
              fence,
              this.leaseMs,
            ]),
          )
          .exec();
      }
      const scores = this.client.pipeline();
      const lost: string[] = [];
      owned.forEach(([taskId], i) => {
        const [err, value] = results?.[i] ?? [null, 0];
        const leaseUntil = Number(value);
        if (err || leaseUntil === 0) {
          if (!err) lost.push(taskId); // no longer ours: ended elsewhere or taken
          return;
        }
        scores.zadd(this.key('running'), 'XX', leaseUntil, taskId);
      });
      await scores.exec();
      if (lost.length > 0) await this.reconcileOwned(lost);
    } catch (err) {
      this.logConnectionError('command', err);
    }
  }

  // ---- pub/sub ------------------------------------------------------------------------

  /**
   * Tells the ended-listeners about tasks this instance runs that ended elsewhere without
   * a notice reaching it (the subscriber was reconnecting, or the lease was lost).
   */
  private async reconcileOwned(taskIds: string[]): Promise<void> {
    if (taskIds.length === 0) return;
    try {
      const pipeline = this.client.pipeline();
      for (const taskId of taskIds) pipeline.hget(this.taskKey(taskId, 'meta'), 'status');
      const results = (await pipeline.exec()) ?? [];
      taskIds.forEach((taskId, i) => {
        const [err, value] = results[i] ?? [null, null];
        if (err || !this.owned.has(taskId)) return;
        const status = value === null ? 'failed' : value;
        if (status === 'running' || !isTerminalStatus(status)) return;
        this.owned.delete(taskId);
        for (const listener of this.endedListeners) listener(taskId, status);
      });
    } catch (err) {
      this.logConnectionError('command', err);
    }
  }

  private onMessage(channel: string, message: string): void {
    if (channel === this.controlChannel) {
      const [kind, taskId, status] = message.split('\n');
      if (kind === 'ended' && taskId && isTerminalStatus(status)) {
        this.owned.delete(taskId);
        for (const listener of this.endedListeners) listener(taskId, status);
      }
      return;
    }
    const watch = this.watches.get(channel);
    if (!watch || watch.entries.size === 0) return;
    // Lines: seq, type, data, seq, type, data ... (JSON data never contains a raw newline).
    const events: TaskEvent[] = [];
    let start = 0;
    while (start < message.length) {
      const a = message.indexOf('\n', start);
      const b = message.indexOf('\n', a + 1);
      let c = message.indexOf('\n', b + 1);
      if (c === -1) c = message.length;
      events.push(
        new TaskEvent(Number(message.slice(start, a)), message.slice(a + 1, b), message.slice(b + 1, c)),
      );
      start = c + 1;
    }
    for (const entry of watch.entries) {
      for (const event of events) entry.listener(event);
    }
  }

  /** The subscriber connection dropped: messages may be lost, so live streams must resume. */
  private interruptWatches(): void {
    const watches = [...this.watches.values()];
    this.watches.clear();
    for (const watch of watches) {
      for (const entry of watch.entries) entry.onInterrupted?.();
    }
  }

  // ---- helpers ------------------------------------------------------------------------

  private get controlChannel(): string {
    return this.key('control');
  }

  private key(name: string): string {
    return `${this.prefix}${name}`;
  }

  private keyIndex(keyHash: string): string {
    return `${this.prefix}key:${keyHash}`;
  }

  private taskKey(taskId: string, part: 'meta' | 'events' | 'gone' | 'live'): string {
    return `${this.prefix}{${taskId}}:${part}`;
  }

  /** The per-prefix keys the scripts keep (see `globals` in redis-scripts.ts). */
  private globalKeys(): string[] {
    return ['running', 'bytes', 'finished', 'sheddable', 'held'].map((name) => this.key(name));
  }

  private taskKeys(taskId: string): string[] {
    return [this.taskKey(taskId, 'meta'), this.taskKey(taskId, 'events'), this.taskKey(taskId, 'gone')];
  }

  private async eval(s: Script, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await this.client.evalsha(s.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.includes('NOSCRIPT')) throw err;
      return this.client.eval(s.lua, keys.length, ...keys, ...args);
    }
  }

  private async pipelined<T extends unknown[]>(
    build: (pipeline: ReturnType<Redis['pipeline']>) => ReturnType<Redis['pipeline']>,
    atomic = false,
  ): Promise<T> {
    const results = (await build(atomic ? this.client.multi() : this.client.pipeline()).exec()) ?? [];
    return results.map(([err, value]) => {
      if (err) throw err;
      return value;
    }) as T;
  }

  /** Runs a Redis operation, turning script errors into typed errors and the rest into 503. */
  private async call<T>(operation: () => Promise<T>, taskId = '(unknown)'): Promise<T> {
    if (this.closed) throw new StoreUnavailableError('the store is closed');
    try {
      return await operation();
    } catch (err) {
      throw this.translate(err, taskId);
    }
  }

  private translate(err: unknown, taskId: string): unknown {
    if (err instanceof SseResumeError) return err;
    const message = errorMessage(err);
    const match = /SSE_([A-Z_]+)(?: (\w+))?/.exec(message);
    if (match) {
      switch (match[1]) {
        case 'NOT_FOUND':
          return new TaskNotFoundError(taskId);
        case 'EXPIRED':
          return new TaskExpiredError(taskId);
        case 'NOT_RUNNING':
          return new TaskNotRunningError(taskId, match[2] ?? 'ended');
        case 'FENCED':
          return new TaskNotRunningError(taskId, 'owned by another instance');
        case 'EXISTS':
          return new Error(`task ${taskId} exists already`);
        case 'TOO_MANY':
          return new TooManyTasksError(this.limits.maxTasks, Number(match[2] ?? 5));
        case 'STORE_FULL':
          return new StoreFullError(
            this.limits.historyBudgetBytes,
            Number(match[2] ?? STORE_FULL_RETRY_SECONDS),
          );
      }
    }
    return new StoreUnavailableError(message, err);
  }

  private logConnectionError(connection: string, err: unknown): void {
    const now = Date.now();
    if (now - this.lastErrorLog < 5_000 || this.closed) return;
    this.lastErrorLog = now;
    this.logger.error(`Redis ${connection} connection: ${errorMessage(err)}`);
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

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** QUIT when connected (the server closes, no timer is left behind), else drop the socket. */
async function closeConnection(redis: Redis): Promise<void> {
  if (redis.status === 'ready') {
    try {
      await withTimeout(redis.quit(), 1_000);
      return;
    } catch {
      // fall through
    }
  }
  redis.disconnect();
}

/** Resolves once `redis` is ready (at once if it is), or after `ms`. */
function waitUntilReady(redis: Redis, ms: number): Promise<void> {
  if (redis.status === 'ready') return new Promise((resolve) => setTimeout(resolve, ms));
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    redis.once('ready', done);
  });
}

function onceReady(redis: Redis): Promise<void> {
  return new Promise((resolve) => redis.once('ready', () => resolve()));
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
