import { randomUUID } from 'node:crypto';
import { StoreUnavailableError } from '../../errors';
import type { TaskStoreLimits, TaskTermination } from '../../interfaces/task-store.interface';
import { END_EVENT } from '../../sse-resume.constants';
import { TaskEvent } from '../../task-event';
import type { RedisConnections } from './redis-connections';
import type { RedisKeyspace } from './redis-keyspace';
import type { RedisLeases } from './redis-leases';
import { SCRIPTS, type Script } from './redis-scripts';
import { encodeLiveEvent } from './redis-live-events';
import { matchBatches, parseLastApplied, placeWrites, type Placement } from './redis-append-recovery';
import { retryWrite, type WriteRetryContext } from './redis-write-retry';
import { durableWrite, type ReplicaWait } from './redis-replica-wait';
import {
  appendArgs,
  finishArgs,
  type EventToAppend,
  type PublishCommand,
  type WriteToken,
} from './redis-write-scripts';

/** Events sent in one APPEND call at most (more wait for the next call). */
const MAX_BATCH_EVENTS = 512;
const MAX_BATCH_CHARS = 4 * 1024 * 1024;

interface PendingAppend extends EventToAppend {
  kind: 'append';
  resolve: (event: TaskEvent) => void;
  reject: (err: unknown) => void;
}

interface PendingFinish {
  kind: 'finish';
  termination: TaskTermination;
  resolve: (event: TaskEvent | undefined) => void;
  reject: (err: unknown) => void;
}

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

/** An APPEND call sent and not settled yet; `outcome` is set when its reply (or failure) came. */
interface SentCall {
  readonly batch: PendingAppend[];
  readonly token: WriteToken;
  readonly fence: string;
  readonly owned: boolean;
  settled: Promise<void>;
  outcome?: { first: number } | { err: unknown };
}

/** Writes of one task from this instance, in call order. */
interface WriteQueue {
  ops: (PendingAppend | PendingFinish)[];
  /** APPEND calls in flight, in send order (Redis applies them in that order: one connection). */
  inFlight: SentCall[];
  /** Last id an APPEND of this queue was acknowledged; until known, one call at a time. */
  lastAcked: number | undefined;
  pumpScheduled: boolean;
  /** A FINISH, or the recovery from a lost connection, runs: nothing else is sent meanwhile. */
  exclusive: boolean;
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

  constructor(
    private readonly connections: RedisConnections,
    private readonly keys: RedisKeyspace,
    private readonly limits: TaskStoreLimits,
    private readonly leases: RedisLeases,
    retryMs: number,
    private readonly observer?: WriteObserver,
    /** Writes wait for replicas (`WAIT`) and are published by this writer afterwards. */
    private readonly replicaWait?: ReplicaWait,
  ) {
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

  finish(taskId: string, termination: TaskTermination): Promise<TaskEvent | undefined> {
    return new Promise((resolve, reject) => {
      this.enqueue(taskId, { kind: 'finish', termination, resolve, reject });
    });
  }

  private enqueue(taskId: string, op: PendingAppend | PendingFinish): void {
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
      if (head.kind === 'finish') {
        if (queue.inFlight.length > 0) return;
        queue.ops.shift();
        queue.exclusive = true;
        void this.runFinish(taskId, head).then(() => this.resume(taskId, queue));
        return;
      }
      let count = 0;
      let chars = 0;
      while (count < queue.ops.length && count < MAX_BATCH_EVENTS && chars < MAX_BATCH_CHARS) {
        const next = queue.ops[count]!;
        if (next.kind !== 'append') break;
        chars += next.data.length;
        count++;
      }
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
    const args = this.appendArgs(taskId, batch, token, fence);
    const call: SentCall = { batch, token, fence, owned: fence !== '', settled: Promise.resolve() };
    call.settled = this.connections
      .call(() => this.evalAppend(taskId, args), taskId)
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
        // The replies of this call and maybe later ones are lost: settle them all first.
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
    // Stored and replicated: announced now (in id order: calls settle in send order).
    if (this.replicaWait)
      this.publishAfterWait(this.keys.liveChannel(taskId), events.map(encodeLiveEvent).join('\n'));
    this.observer?.stored(taskId, events, sizes, call.owned);
    for (let i = 0; i < batch.length; i++) batch[i]!.resolve(events[i]!);
  }

  private failed(taskId: string, batch: PendingAppend[], err: unknown): void {
    this.observer?.invalidated(taskId);
    for (const op of batch) op.reject(err);
  }

  /**
   * After a lost connection: waits for every call in flight, asks Redis which of this
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
        const args = this.appendArgs(taskId, call.batch, call.token, call.fence);
        const first = Number(await this.retried(taskId, () => this.evalAppend(taskId, args)));
        this.stored(taskId, queue, call, first);
      } catch (err) {
        this.failed(taskId, call.batch, err);
      }
    }
  }

  /** How the scripts publish: by themselves, unless the writer does after `WAIT`. */
  private get publish(): PublishCommand {
    if (this.replicaWait) return '';
    return this.connections.cluster ? 'SPUBLISH' : 'PUBLISH';
  }

  private appendArgs(
    taskId: string,
    batch: readonly PendingAppend[],
    token: WriteToken,
    fence: string,
  ): (string | number)[] {
    const known = fence === '' ? 0 : this.leases.knownOf(taskId);
    return appendArgs(
      { taskId, fence, events: batch, token, known, publish: this.publish },
      this.keys.of(taskId),
      this.limits,
    );
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
    const unplaced = calls.filter((_, i) => placements[i] === 'unplaced');
    const entries = await this.retried(taskId, () =>
      this.connections.client.xrange(this.keys.taskKey(taskId, 'events'), `${from}-0`, `${to}-0`),
    );
    const firsts = matchBatches(
      entries.map(([id, fields]) => ({
        seq: Number(id.slice(0, -2)),
        type: fields[1] ?? '',
        data: fields[3] ?? '',
      })),
      unplaced.map((call) => call.batch),
    );
    if (!firsts) return placements;
    let k = 0;
    return placements.map((p) => (p === 'unplaced' ? { first: firsts[k++]! } : p));
  }

  private async runFinish(taskId: string, op: PendingFinish): Promise<void> {
    const { termination } = op;
    const keys = this.keys.of(taskId);
    const args = finishArgs(
      {
        taskId,
        termination,
        fence: this.leases.fenceOf(taskId),
        onlyIfLeaseLapsed: false,
        token: this.nextToken(),
        known: this.leases.knownOf(taskId),
        publish: this.publish,
      },
      keys,
      this.limits,
    );
    try {
      const result = await this.retried(taskId, () =>
        this.write(SCRIPTS.finish, keys.writeKeys(taskId), args),
      );
      this.leases.release(taskId);
      this.observer?.invalidated(taskId);
      if (result === null) return op.resolve(undefined); // it had ended already
      const end = new TaskEvent(Number(result), END_EVENT, termination.data);
      if (this.replicaWait) {
        this.publishAfterWait(keys.liveChannel(taskId), encodeLiveEvent(end));
        this.publishAfterWait(keys.controlChannel, `ended\n${taskId}\n${termination.status}`);
      }
      this.observer?.stored(taskId, [end], [termination.data.length + END_EVENT.length], false);
      op.resolve(end);
    } catch (err) {
      this.observer?.invalidated(taskId);
      // Unreachable past writeRetryMs: still ours (task-runner.ts tries the end again), keep renewing.
      if (!(err instanceof StoreUnavailableError)) this.leases.release(taskId);
      op.reject(err);
    }
  }

  /** A script call; with `waitForReplicas`, followed by `WAIT` on the same node. */
  private write(script: Script, keys: string[], args: (string | number)[]): Promise<unknown> {
    if (!this.replicaWait) return this.connections.eval(script, keys, args);
    return durableWrite(this.connections, script, keys, args, this.replicaWait);
  }

  /** Publishes what the script did not (it waited for replicas first); sent at once, so in call order. */
  private publishAfterWait(channel: string, message: string): void {
    this.connections.publish(channel, message).catch((err: unknown) => {
      // Stored and replicated, but not announced: watchers see a jump (a gap) or resume.
      this.connections.logError('command', err);
    });
  }

  /**
   * APPEND by its text (EVAL), not its SHA-1: with several calls in flight, a NOSCRIPT
   * reply to one (after SCRIPT FLUSH) followed by a later one that ran (another client
   * loaded the script meanwhile) would apply them out of order. Redis finds the compiled
   * script by the text's hash, a few µs per call of hundreds of events.
   */
  private evalAppend(taskId: string, args: (string | number)[]): Promise<unknown> {
    const keys = this.keys.writeKeys(taskId);
    if (this.replicaWait) return durableWrite(this.connections, SCRIPTS.append, keys, args, this.replicaWait);
    return this.connections.client.eval(SCRIPTS.append.lua, keys.length, ...keys, ...args);
  }

  /** Retried across a reconnect with the same token: applied once (see REPLAYED_WRITE). */
  private retried<T>(taskId: string, write: () => Promise<T>): Promise<T> {
    return retryWrite(() => this.connections.call(write, taskId), this.retry);
  }

  private nextToken(): WriteToken {
    return { writer: this.writerId, write: ++this.writes };
  }
}
