import { randomUUID } from 'node:crypto';
import { StoreUnavailableError } from '../../errors';
import type { TaskStoreLimits, TaskTermination } from '../../interfaces/task-store.interface';
import { END_EVENT } from '../../sse-resume.constants';
import { TaskEvent } from '../../task-event';
import type { RedisConnections } from './redis-connections';
import type { RedisKeys } from './redis-keys';
import type { RedisLeases } from './redis-leases';
import { SCRIPTS } from './redis-scripts';
import { retryWrite, type WriteRetryContext } from './redis-write-retry';
import { appendArgs, finishArgs, type EventToAppend, type WriteToken } from './redis-write-scripts';

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

/** Writes of one task from this instance: one Redis call in flight at a time keeps their order. */
interface WriteQueue {
  ops: (PendingAppend | PendingFinish)[];
  busy: boolean;
}

/**
 * Writes tasks' events and ends from this instance through one queue per task: a turn's
 * appends go in one script call, in call order, and a write that fails because Redis is
 * unreachable is retried (idempotently) for up to `writeRetryMs`.
 */
export class RedisTaskWriter {
  /** Names this instance's writes (with `writes`), so that a retried write is applied once. */
  private readonly writerId = randomUUID();
  private writes = 0;
  private readonly queues = new Map<string, WriteQueue>();
  private readonly retry: WriteRetryContext;

  constructor(
    private readonly connections: RedisConnections,
    private readonly keys: RedisKeys,
    private readonly limits: TaskStoreLimits,
    private readonly leases: RedisLeases,
    retryMs: number,
    private readonly observer?: WriteObserver,
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
        const batch: PendingAppend[] = [];
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

  private async runAppend(taskId: string, batch: PendingAppend[]): Promise<void> {
    const fence = this.leases.fenceOf(taskId);
    const args = appendArgs(
      { taskId, fence, events: batch, token: this.nextToken() },
      this.keys,
      this.limits,
    );
    let first: number;
    try {
      first = Number(
        await this.retried(taskId, () =>
          this.connections.eval(SCRIPTS.append, this.keys.writeKeys(taskId), args),
        ),
      );
    } catch (err) {
      this.observer?.invalidated(taskId);
      for (const op of batch) op.reject(err);
      return;
    }
    const events = new Array<TaskEvent>(batch.length);
    const sizes = new Array<number>(batch.length);
    for (let i = 0; i < batch.length; i++) {
      const op = batch[i]!;
      events[i] = new TaskEvent(first + i, op.type, op.data);
      sizes[i] = op.size;
    }
    this.observer?.stored(taskId, events, sizes, fence !== '');
    for (let i = 0; i < batch.length; i++) batch[i]!.resolve(events[i]!);
  }

  private async runFinish(taskId: string, op: PendingFinish): Promise<void> {
    const { termination } = op;
    const args = finishArgs(
      {
        taskId,
        termination,
        fence: this.leases.fenceOf(taskId),
        onlyIfLeaseLapsed: false,
        token: this.nextToken(),
      },
      this.keys,
      this.limits,
    );
    try {
      const result = await this.retried(taskId, () =>
        this.connections.eval(SCRIPTS.finish, this.keys.writeKeys(taskId), args),
      );
      this.leases.release(taskId);
      this.observer?.invalidated(taskId);
      if (result === null) return op.resolve(undefined); // it had ended already
      const end = new TaskEvent(Number(result), END_EVENT, termination.data);
      this.observer?.stored(taskId, [end], [termination.data.length + END_EVENT.length], false);
      op.resolve(end);
    } catch (err) {
      this.observer?.invalidated(taskId);
      // Unreachable past writeRetryMs: still ours (task-runner.ts tries the end again), keep renewing.
      if (!(err instanceof StoreUnavailableError)) this.leases.release(taskId);
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
