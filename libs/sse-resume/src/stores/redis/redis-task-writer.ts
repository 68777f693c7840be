import { randomUUID } from 'node:crypto';
import { StoreUnavailableError } from '../../errors';
import type { SourceEvent, TaskStoreLimits, TaskTermination } from '../../interfaces/task-store.interface';
import { END_EVENT } from '../../sse-resume.constants';
import { TaskEvent } from '../../task-event';
import type { RedisConnections } from './redis-connections';
import type { RedisKeyspace } from './redis-keyspace';
import type { RedisLeases } from './redis-leases';
import { parseLastApplied, placeByContents, placeWrites, type Placement } from './redis-append-recovery';
import { retryWrite, type WriteRetryContext } from './redis-write-retry';
import type { ReplicaWait } from './redis-replica-wait';
import { nextBatchSize, onceBatch } from './redis-write-batches';
import { RedisWriteCalls } from './redis-write-calls';
import type { WriteToken } from './redis-write-scripts';
import type {
  PendingAppend,
  PendingFinish,
  PendingOnce,
  PendingWrite,
  SentCall,
  WriteQueue,
} from './redis-write-queue';

/** Told what this instance's writes stored (the owner's copy of history, local watches). */
export interface WriteObserver {
  /**
   * Events Redis acknowledged, in id order, with what each counts against the limits;
   * `owned`: written with this instance's fencing token (the task is run here).
   */
  stored(taskId: string, events: readonly TaskEvent[], sizes: readonly number[], owned: boolean): void;
  /** The task ended by this instance's write, or a write failed: what is known of it here may be stale. */
  invalidated(taskId: string): void;
}

/** APPEND calls of one task in flight at once: sending the next while Redis runs one keeps up with fast emitters. */
const MAX_IN_FLIGHT = 8;
/** With this many in flight, a call waits for a reply or for {@link FILL_EVENTS} queued writes. */
const FILL_IN_FLIGHT = 4;
const FILL_EVENTS = 256;

/**
 * Writes tasks' events and ends from this instance through one queue per task: a turn's
 * appends go in one script call, in call order, several calls in flight on the one
 * command connection (Redis applies them in order), and a write that fails because Redis
 * is unreachable is retried (idempotently) for up to `writeRetryMs`: after a lost
 * connection, what was applied is settled first (redis-append-recovery.ts).
 */
export class RedisTaskWriter {
  /** Names this instance's writes (with `writes`), so that a retried write is applied once. */
  private readonly writerId = randomUUID();
  private writes = 0;
  private readonly queues = new Map<string, WriteQueue>();
  private readonly retry: WriteRetryContext;
  private readonly calls: RedisWriteCalls;

  constructor(
    private readonly connections: RedisConnections,
    private readonly keys: RedisKeyspace,
    limits: TaskStoreLimits,
    private readonly leases: RedisLeases,
    retryMs: number,
    private readonly observer?: WriteObserver,
    /** Writes wait for replicas (`WAIT`) and are published by this writer afterwards. */
    replicaWait?: ReplicaWait,
  ) {
    this.calls = new RedisWriteCalls(connections, keys, limits, leases, replicaWait);
    this.retry = {
      retryMs,
      isClosed: () => connections.closed,
      waitForConnection: (ms) => connections.waitForCommands(ms),
    };
  }

  append(taskId: string, type: string, data: string): Promise<TaskEvent> {
    return new Promise((resolve, reject) => {
      const size = Buffer.byteLength(data) + type.length;
      this.enqueue(taskId, { kind: 'append', type, data, size, resolve, reject });
    });
  }

  /** An append whose event carries a checkpoint's state: stored with it, and last in its APPEND call. */
  checkpoint(taskId: string, type: string, data: string, state: string): Promise<TaskEvent> {
    return new Promise((resolve, reject) => {
      const size = Buffer.byteLength(data) + type.length;
      this.enqueue(taskId, { kind: 'append', type, data, size, checkpoint: state, resolve, reject });
    });
  }

  /** Events appended in one call of their own only if `position` is new for `source` (in order with the others). */
  appendOnce(taskId: string, source: string, position: string, events: SourceEvent[]): Promise<TaskEvent[]> {
    if (events.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.enqueue(taskId, { kind: 'once', source, position, events, resolve, reject });
    });
  }

  finish(taskId: string, termination: TaskTermination): Promise<TaskEvent | undefined> {
    return new Promise((resolve, reject) => {
      this.enqueue(taskId, { kind: 'finish', termination, resolve, reject });
    });
  }

  private enqueue(taskId: string, op: PendingWrite): void {
    let queue = this.queues.get(taskId);
    if (!queue) {
      queue = { ops: [], inFlight: [], lastAcked: undefined, pumpScheduled: false, exclusive: false };
      this.queues.set(taskId, queue);
    }
    queue.ops.push(op);
    this.schedulePump(taskId, queue);
  }

  /** Sends what is queued once this turn's writes have joined it (a microtask later). */
  private schedulePump(taskId: string, queue: WriteQueue): void {
    if (queue.pumpScheduled) return;
    queue.pumpScheduled = true;
    queueMicrotask(() => {
      queue.pumpScheduled = false;
      this.pump(taskId, queue);
    });
  }

  /** Sends queued appends while calls may be added in flight; a finish waits until none is. */
  private pump(taskId: string, queue: WriteQueue): void {
    if (queue.exclusive) return;
    const maxInFlight = queue.lastAcked === undefined ? 1 : MAX_IN_FLIGHT;
    while (queue.ops.length > 0 && queue.inFlight.length < maxInFlight) {
      // Many in flight: Redis is busy, so a reply comes soon; fuller calls cost it less per event.
      if (queue.inFlight.length >= FILL_IN_FLIGHT && queue.ops.length < FILL_EVENTS) return;
      const head = queue.ops[0]!;
      if (head.kind !== 'append') {
        if (queue.inFlight.length > 0) return;
        queue.ops.shift();
        queue.exclusive = true;
        const run = head.kind === 'finish' ? this.runFinish(taskId, head) : this.runOnce(taskId, queue, head);
        void run.then(() => this.resume(taskId, queue));
        return;
      }
      const count = nextBatchSize(queue.ops);
      queue.inFlight.push(this.send(taskId, queue, queue.ops.splice(0, count) as PendingAppend[]));
    }
    if (queue.ops.length === 0 && queue.inFlight.length === 0 && this.queues.get(taskId) === queue) {
      this.queues.delete(taskId);
    }
  }

  private resume(taskId: string, queue: WriteQueue): void {
    queue.exclusive = false;
    this.pump(taskId, queue);
  }

  /** One attempt of an APPEND call; its outcome is handled in send order by {@link settle}. */
  private send(taskId: string, queue: WriteQueue, batch: PendingAppend[]): SentCall {
    const fence = this.leases.fenceOf(taskId);
    const token = this.nextToken();
    // Behind a call in flight it names that call's write: it cannot be applied before it.
    const after = queue.inFlight.at(-1)?.token.write;
    const args = this.calls.appendArgs(taskId, batch, token, fence, after);
    const call: SentCall = { batch, token, fence, owned: fence !== '', settled: Promise.resolve() };
    call.settled = this.connections
      .call(() => this.calls.append(taskId, args, after === undefined), taskId)
      .then(
        (first) => {
          call.outcome = { first: Number(first) };
        },
        (err: unknown) => {
          call.outcome = { err };
        },
      )
      .then(() => this.settle(taskId, queue));
    return call;
  }

  /** Hands out the outcomes of the calls at the head of the queue, in send order. */
  private settle(taskId: string, queue: WriteQueue): void {
    if (queue.exclusive) return;
    while (queue.inFlight.length > 0) {
      const call = queue.inFlight[0]!;
      const { outcome } = call;
      if (!outcome) break;
      if ('err' in outcome && outcome.err instanceof StoreUnavailableError && !this.connections.closed) {
        // The replies of this call and maybe later ones are lost, or it was not applied (NOSCRIPT,
        // then later ones are refused: IN_ORDER): settle them all first, resend the rest in order.
        queue.exclusive = true;
        void this.recover(taskId, queue).then(() => this.resume(taskId, queue));
        return;
      }
      queue.inFlight.shift();
      if ('err' in outcome) this.failed(taskId, call.batch, outcome.err);
      else this.stored(taskId, queue, call, outcome.first);
    }
    this.pump(taskId, queue);
  }

  private stored(
    taskId: string,
    queue: WriteQueue,
    call: Pick<SentCall, 'batch' | 'owned'>,
    first: number,
  ): void {
    const { batch } = call;
    const events = new Array<TaskEvent>(batch.length);
    const sizes = new Array<number>(batch.length);
    for (let i = 0; i < batch.length; i++) {
      const op = batch[i]!;
      events[i] = new TaskEvent(first + i, op.type, op.data);
      sizes[i] = op.size;
    }
    queue.lastAcked = first + batch.length - 1;
    if (call.owned) this.leases.acknowledged(taskId, queue.lastAcked);
    // Stored (and replicated): announced now if the script did not (calls settle in send order).
    this.calls.announce(taskId, events);
    this.observer?.stored(taskId, events, sizes, call.owned);
    for (let i = 0; i < batch.length; i++) batch[i]!.resolve(events[i]!);
  }

  private failed(taskId: string, batch: PendingAppend[], err: unknown): void {
    this.observer?.invalidated(taskId);
    for (const op of batch) op.reject(err);
  }

  /**
   * After a lost connection, or a call Redis did not apply (NOSCRIPT, then the calls behind it
   * were refused: IN_ORDER): waits for every call in flight, asks Redis which of this
   * instance's writes it applied last, places the applied ones and sends the others again,
   * one at a time (each then the newest write, recognized by its token if its reply is lost).
   */
  private async recover(taskId: string, queue: WriteQueue): Promise<void> {
    await Promise.all(queue.inFlight.map((call) => call.settled));
    const calls = queue.inFlight.splice(0);
    const outcomeFirst = (call: SentCall) =>
      call.outcome && 'first' in call.outcome ? call.outcome.first : undefined;
    let placements: Placement[];
    try {
      const field = await this.retried(taskId, () =>
        this.connections.client.hget(this.keys.taskKey(taskId, 'meta'), `w:${this.writerId}`),
      );
      placements = placeWrites(
        calls.map((call) => ({
          write: call.token.write,
          count: call.batch.length,
          first: outcomeFirst(call),
        })),
        queue.lastAcked,
        parseLastApplied(field),
      );
      if (placements.includes('unplaced'))
        placements = await this.matchUnplaced(taskId, queue, calls, placements);
    } catch (err) {
      for (const call of calls) {
        const first = outcomeFirst(call);
        if (first !== undefined) this.stored(taskId, queue, call, first);
        else this.failed(taskId, call.batch, err);
      }
      return;
    }
    // Placed (and owned) events may not follow what the copy of history has: it starts anew then.
    for (let i = 0; i < calls.length; i++) {
      const call = calls[i]!;
      const placement = placements[i]!;
      if (typeof placement === 'object') {
        this.stored(taskId, queue, call, placement.first);
        continue;
      }
      if (placement === 'unplaced') {
        this.failed(
          taskId,
          call.batch,
          new StoreUnavailableError(
            `events of task ${taskId} were stored, but at ids that could not be told`,
          ),
        );
        continue;
      }
      try {
        // Built again: the last id this owner was given may have moved (see REPAIR_REWIND).
        const args = this.calls.appendArgs(taskId, call.batch, call.token, call.fence);
        const first = Number(await this.retried(taskId, () => this.calls.append(taskId, args, true)));
        this.stored(taskId, queue, call, first);
      } catch (err) {
        this.failed(taskId, call.batch, err);
      }
    }
  }

  /** Places writes that counting could not (another instance's events came between) by their events in history. */
  private async matchUnplaced(
    taskId: string,
    queue: WriteQueue,
    calls: SentCall[],
    placements: Placement[],
  ): Promise<Placement[]> {
    const from = (queue.lastAcked ?? 0) + 1;
    const to = Math.max(...placements.map((p) => (typeof p === 'object' ? p.first : 0))) - 1;
    const entries = await this.retried(taskId, () => this.calls.readHistory(taskId, from, to));
    return placeByContents(
      placements,
      calls.map((call) => call.batch),
      entries,
    );
  }

  private async runFinish(taskId: string, op: PendingFinish): Promise<void> {
    const { termination } = op;
    const token = this.nextToken();
    try {
      const result = await this.retried(taskId, () => this.calls.finish(taskId, termination, token));
      this.leases.release(taskId);
      this.observer?.invalidated(taskId);
      if (result === null) return op.resolve(undefined); // it had ended already
      const end = new TaskEvent(Number(result), END_EVENT, termination.data);
      this.calls.announceEnd(taskId, end, termination.status);
      this.observer?.stored(taskId, [end], [termination.data.length + END_EVENT.length], false);
      op.resolve(end);
    } catch (err) {
      this.observer?.invalidated(taskId);
      // Unreachable past writeRetryMs: still ours (task-runner.ts tries the end again), keep renewing.
      if (!(err instanceof StoreUnavailableError)) this.leases.release(taskId);
      op.reject(err);
    }
  }

  /** An appendOnce: one APPEND call alone, retried with its token (applied once); reply 0 = nothing new. */
  private async runOnce(taskId: string, queue: WriteQueue, op: PendingOnce): Promise<void> {
    const appended: TaskEvent[] = [];
    const batch = onceBatch(op.events, (stored) => appended.push(stored));
    const fence = this.leases.fenceOf(taskId);
    const token = this.nextToken();
    const once = { source: op.source, position: op.position };
    try {
      const args = this.calls.appendArgs(taskId, batch, token, fence, undefined, once);
      const first = Number(await this.retried(taskId, () => this.calls.append(taskId, args, true)));
      if (first > 0) this.stored(taskId, queue, { batch, owned: fence !== '' }, first);
      op.resolve(appended);
    } catch (err) {
      this.observer?.invalidated(taskId);
      op.reject(err);
    }
  }

  /** Retried across a reconnect with the same token: applied once (see REPLAYED_WRITE). */
  private retried<T>(taskId: string, write: () => Promise<T>): Promise<T> {
    return retryWrite(() => this.connections.call(write, taskId), this.retry);
  }

  private nextToken(): WriteToken {
    return { writer: this.writerId, write: ++this.writes };
  }
}
