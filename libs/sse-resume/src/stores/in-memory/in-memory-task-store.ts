import { Logger } from '@nestjs/common';
import { END_EVENT, STORE_FULL_RETRY_SECONDS } from '../../sse-resume.constants';
import { TaskEvent } from '../../task-event';
import { EventRing } from './event-ring';
import {
  StoreFullError,
  TaskExpiredError,
  TaskNotFoundError,
  TaskNotRunningError,
  TooManyTasksError,
} from '../../errors';
import type {
  HistorySlice,
  NewTaskRecord,
  SourceEvent,
  TaskClaim,
  TaskEventListener,
  TaskLookup,
  TaskRecord,
  TaskStore,
  TaskStoreLimits,
  TaskTermination,
} from '../../interfaces/task-store.interface';
import { LOGGER_NAME } from '../../sse-resume.messages';
import { errorStack, errorText, logRecord } from '../../log-record';

interface MemoryTask {
  record: TaskRecord;
  /** History; its oldest event has id `record.firstEventId`. */
  readonly events: EventRing;
  bytes: number;
  watchers: Set<TaskEventListener>;
  /** Durable tasks: the newest checkpoint (state JSON, id of its event). */
  checkpoint?: { state: string; eventId: number };
  /** {@link InMemoryTaskStore.appendOnce}: the last position applied, per source. */
  positions?: Map<string, string>;
}

interface Tombstone {
  keyHash: string;
  forgetAt: number;
}

/**
 * The default store: everything in this process. Fast and exact, but tasks die with the
 * process and are not shared between instances (use the Redis store for that).
 */
export class InMemoryTaskStore implements TaskStore {
  readonly kind = 'memory';
  readonly shared: boolean = false;
  private readonly logger = new Logger(LOGGER_NAME);
  private readonly tasks = new Map<string, MemoryTask>();
  private readonly taskIdByKeyHash = new Map<string, string>();
  private readonly tombstones = new Map<string, Tombstone>();
  /** History bytes of all held tasks (the sum of their `bytes`), against `historyBudgetBytes`. */
  private historyTotal = 0;
  /** Finished tasks holding more than their `end` event, oldest end first (a Map keeps insertion order). */
  private readonly sheddable = new Map<string, MemoryTask>();

  constructor(private readonly limits: TaskStoreLimits) {}

  async create(init: NewTaskRecord): Promise<void> {
    if (this.tasks.size >= this.limits.maxTasks) {
      await this.evictExpired(Date.now());
      if (this.tasks.size >= this.limits.maxTasks) {
        throw new TooManyTasksError(this.limits.maxTasks, this.secondsUntilRoom());
      }
    }
    const budget = this.limits.historyBudgetBytes;
    if (this.historyTotal >= budget) {
      await this.evictExpired(Date.now());
      this.shed(budget - 1);
      if (this.historyTotal >= budget) throw new StoreFullError(budget, STORE_FULL_RETRY_SECONDS);
    }
    // Checked again: the awaits above let concurrent creates pass the first check together.
    if (this.tasks.size >= this.limits.maxTasks) {
      throw new TooManyTasksError(this.limits.maxTasks, this.secondsUntilRoom());
    }
    if (this.tasks.has(init.taskId)) throw new Error(`task ${init.taskId} exists already`);
    const record: TaskRecord = {
      taskId: init.taskId,
      keyHash: init.keyHash,
      status: 'running',
      createdAt: init.createdAt,
      updatedAt: init.createdAt,
      expiresAt: null,
      lastEventId: 0,
      firstEventId: 1,
      endEventId: null,
      ownerId: init.ownerId,
    };
    if (init.durable === true) {
      record.durable = true;
      record.attempt = 0;
    }
    if (init.metadata !== undefined) record.metadata = { ...init.metadata };
    this.tasks.set(init.taskId, { record, events: new EventRing(), bytes: 0, watchers: new Set() });
    this.taskIdByKeyHash.set(init.keyHash, init.taskId);
  }

  async lookup(taskId: string): Promise<TaskLookup> {
    const task = this.live(taskId);
    if (task) {
      const copy = { ...task.record };
      if (copy.metadata) copy.metadata = { ...copy.metadata };
      return { state: 'found', task: copy };
    }
    const tombstone = this.tombstones.get(taskId);
    if (tombstone && tombstone.forgetAt > Date.now()) {
      return { state: 'expired', taskId, keyHash: tombstone.keyHash };
    }
    return { state: 'missing' };
  }

  async findTaskIdByKeyHash(keyHash: string): Promise<string | undefined> {
    const taskId = this.taskIdByKeyHash.get(keyHash);
    if (taskId === undefined) return undefined;
    // Also the tasks that expired, while they answer 410, so that a resume by key says so.
    if (this.live(taskId)) return taskId;
    const tombstone = this.tombstones.get(taskId);
    return tombstone !== undefined && tombstone.forgetAt > Date.now() ? taskId : undefined;
  }

  async append(taskId: string, type: string, data: string): Promise<TaskEvent> {
    return this.appendNow(taskId, type, data);
  }

  appendNow(taskId: string, type: string, data: string): TaskEvent {
    const task = this.require(taskId);
    if (task.record.status !== 'running') throw new TaskNotRunningError(taskId, task.record.status);
    const event = this.push(task, type, data, Date.now());
    this.enforceBudget(task);
    return event;
  }

  /** A new attempt (`TaskStore.claim`); one process holds every writer, so the runtime fences earlier ones. */
  async claim(taskId: string, ownerId: string): Promise<TaskClaim> {
    const task = this.require(taskId);
    const record = task.record;
    if (record.status !== 'running') throw new TaskNotRunningError(taskId, record.status);
    record.attempt = (record.attempt ?? 0) + 1;
    record.ownerId = ownerId;
    const claim: TaskClaim = { attempt: record.attempt, lastEventId: record.lastEventId };
    return task.checkpoint ? { ...claim, checkpoint: { ...task.checkpoint } } : claim;
  }

  /** Appends the event and stores `state` with its id, in the same synchronous step. */
  async checkpoint(taskId: string, type: string, data: string, state: string): Promise<TaskEvent> {
    const event = this.appendNow(taskId, type, data);
    this.require(taskId).checkpoint = { state, eventId: event.seq };
    return event;
  }

  /** Nothing to give up here: no lease is renewed for a task in memory. */
  releaseClaim(): void {}

  /** Appends `events` if `position` sorts after `source`'s last one (string order) and records it; else `[]`. */
  async appendOnce(
    taskId: string,
    source: string,
    position: string,
    events: SourceEvent[],
  ): Promise<TaskEvent[]> {
    if (events.length === 0) return []; // nothing to apply: not even looked up (as on Redis)
    const task = this.require(taskId);
    if (task.record.status !== 'running') throw new TaskNotRunningError(taskId, task.record.status);
    if (position <= (task.positions?.get(source) ?? '')) return []; // as the APPEND script compares
    (task.positions ??= new Map()).set(source, position);
    const now = Date.now();
    const appended = events.map((event) => this.push(task, event.type, event.data, now));
    this.enforceBudget(task);
    return appended;
  }

  async finish(taskId: string, termination: TaskTermination): Promise<TaskEvent | undefined> {
    const task = this.require(taskId);
    const record = task.record;
    if (record.status !== 'running') return undefined;
    const now = Date.now();
    record.status = termination.status;
    record.error = termination.error;
    record.expiresAt = now + this.limits.ttl;
    const end = this.push(task, END_EVENT, termination.data, now);
    record.endEventId = end.seq;
    if (task.bytes > end.size) this.sheddable.set(taskId, task);
    this.enforceBudget(task);
    return end;
  }

  async read(taskId: string, afterId: number, limit: number): Promise<HistorySlice> {
    const task = this.require(taskId);
    const { firstEventId, lastEventId } = task.record;
    const from = Math.max(afterId + 1, firstEventId);
    const to = Math.min(from + Math.max(0, limit) - 1, lastEventId);
    const events: TaskEvent[] = [];
    for (let seq = from; seq <= to; seq++) events.push(task.events.eventAt(seq - firstEventId, seq));
    return { events, firstEventId, lastEventId };
  }

  async watch(taskId: string, listener: TaskEventListener): Promise<() => void> {
    const task = this.require(taskId);
    task.watchers.add(listener);
    return () => {
      task.watchers.delete(listener);
    };
  }

  async evictExpired(now: number): Promise<number> {
    let evicted = 0;
    for (const [taskId, task] of this.tasks) {
      if (task.record.expiresAt !== null && task.record.expiresAt <= now) {
        this.expire(taskId, task, now);
        evicted++;
      }
    }
    for (const [taskId, tombstone] of this.tombstones) {
      if (tombstone.forgetAt <= now) {
        this.tombstones.delete(taskId);
        this.taskIdByKeyHash.delete(tombstone.keyHash);
      }
    }
    return evicted;
  }

  async close(): Promise<void> {
    for (const task of this.tasks.values()) task.watchers.clear();
    this.tasks.clear();
    this.taskIdByKeyHash.clear();
    this.tombstones.clear();
    this.sheddable.clear();
    this.historyTotal = 0;
  }

  /** Tasks held (running or finished within their TTL), expiry records, and their history. For tests and metrics. */
  stats(): { tasks: number; tombstones: number; events: number; bytes: number } {
    let events = 0;
    for (const task of this.tasks.values()) events += task.events.length;
    return { tasks: this.tasks.size, tombstones: this.tombstones.size, events, bytes: this.historyTotal };
  }

  /** The task if it is held and its TTL has not passed (a passed one is expired on the spot). */
  private live(taskId: string): MemoryTask | undefined {
    const task = this.tasks.get(taskId);
    if (!task) return undefined;
    const { expiresAt } = task.record;
    if (expiresAt !== null) {
      const now = Date.now();
      if (expiresAt <= now) {
        this.expire(taskId, task, now);
        return undefined;
      }
    }
    return task;
  }

  private require(taskId: string): MemoryTask {
    const task = this.live(taskId);
    if (task) return task;
    const tombstone = this.tombstones.get(taskId);
    if (tombstone && tombstone.forgetAt > Date.now()) throw new TaskExpiredError(taskId);
    throw new TaskNotFoundError(taskId);
  }

  private expire(taskId: string, task: MemoryTask, now: number): void {
    this.tasks.delete(taskId);
    this.sheddable.delete(taskId);
    this.historyTotal -= task.bytes;
    task.watchers.clear();
    task.events.clear();
    this.tombstones.set(taskId, {
      keyHash: task.record.keyHash,
      forgetAt: now + this.limits.expiredRetentionMs,
    });
  }

  private push(task: MemoryTask, type: string, data: string, now: number): TaskEvent {
    const record = task.record;
    const event = new TaskEvent(record.lastEventId + 1, type, data);
    const size = event.size;
    task.events.push(type, data, size);
    task.bytes += size;
    this.historyTotal += size;
    record.lastEventId = event.seq;
    record.updatedAt = now;
    this.trim(task, false);
    for (const watcher of task.watchers) {
      try {
        watcher(event);
      } catch (err) {
        this.logger.error(
          logRecord('a task watcher threw', { taskId: record.taskId, error: errorText(err) }),
          errorStack(err),
        );
      }
    }
    return event;
  }

  /**
   * Past `historyBudgetBytes` after a write: the oldest finished tasks give up their history
   * (not their `end` event) first, then the writing task keeps only its newest events.
   */
  private enforceBudget(task: MemoryTask): void {
    if (this.historyTotal <= this.limits.historyBudgetBytes) return;
    this.shed(this.limits.historyBudgetBytes);
    this.trim(task, true);
  }

  /** Drops the history of the oldest finished tasks, keeping each one's `end` event, until the total is at most `maxTotal`. */
  private shed(maxTotal: number): void {
    for (const [taskId, task] of this.sheddable) {
      if (this.historyTotal <= maxTotal) return;
      this.sheddable.delete(taskId);
      const endSize = task.events.sizeAt(task.events.length - 1);
      this.historyTotal -= task.bytes - endSize;
      task.events.keepNewest();
      task.bytes = endSize;
      task.record.firstEventId = task.record.lastEventId;
    }
  }

  /**
   * Drops the oldest events past the count or byte limit (and, with `overBudget`, while all
   * tasks together hold more than the budget); the newest event always stays.
   */
  private trim(task: MemoryTask, overBudget: boolean): void {
    const record = task.record;
    while (
      record.lastEventId - record.firstEventId + 1 > 1 &&
      (record.lastEventId - record.firstEventId + 1 > this.limits.historyLimit ||
        task.bytes > this.limits.historyBytes ||
        (overBudget && this.historyTotal > this.limits.historyBudgetBytes))
    ) {
      const dropped = task.events.dropOldest();
      task.bytes -= dropped;
      this.historyTotal -= dropped;
      record.firstEventId++;
    }
  }

  private secondsUntilRoom(): number {
    let soonest = Infinity;
    for (const task of this.tasks.values()) {
      if (task.record.expiresAt !== null) soonest = Math.min(soonest, task.record.expiresAt);
    }
    const ms = soonest === Infinity ? 5_000 : soonest - Date.now();
    return Math.max(1, Math.ceil(ms / 1000));
  }
}
