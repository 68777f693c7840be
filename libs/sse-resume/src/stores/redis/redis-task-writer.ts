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
    private readonly keys: RedisKeyspace,
    private readonly limits: TaskStoreLimits,
    private readonly leases: RedisLeases,
    retryMs: number,
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

  /** How the scripts publish: by themselves, unless the writer does after `WAIT`. */
  private get publish(): PublishCommand {
    if (this.replicaWait) return '';
    return this.connections.cluster ? 'SPUBLISH' : 'PUBLISH';
  }

  private async runAppend(taskId: string, batch: PendingAppend[]): Promise<void> {
    const keys = this.keys.of(taskId);
    const args = appendArgs(
      {
        taskId,
        fence: this.leases.fenceOf(taskId),
        events: batch,
        token: this.nextToken(),
        known: this.leases.knownOf(taskId),
        publish: this.publish,
      },
      keys,
      this.limits,
    );
    try {
      const first = Number(
        await this.retried(taskId, () => this.write(SCRIPTS.append, keys.writeKeys(taskId), args)),
      );
      this.leases.acknowledged(taskId, first + batch.length - 1);
      const events = batch.map((op, i) => new TaskEvent(first + i, op.type, op.data));
      if (this.replicaWait) {
        await this.publishAfterWait(keys.liveChannel(taskId), events.map(encodeLiveEvent).join('\n'));
      }
      batch.forEach((op, i) => op.resolve(events[i]!));
    } catch (err) {
      for (const op of batch) op.reject(err);
    }
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
      if (result === null) return op.resolve(undefined); // it had ended already
      const end = new TaskEvent(Number(result), END_EVENT, termination.data);
      if (this.replicaWait) {
        await this.publishAfterWait(keys.liveChannel(taskId), encodeLiveEvent(end));
        await this.publishAfterWait(keys.controlChannel, `ended\n${taskId}\n${termination.status}`);
      }
      op.resolve(end);
    } catch (err) {
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

  /** Publishes what the script did not (it waited for replicas first); a lost publish ends live streams. */
  private async publishAfterWait(channel: string, message: string): Promise<void> {
    try {
      await this.connections.publish(channel, message);
    } catch (err) {
      // Stored and replicated, but not announced: watchers find it when they resume.
      this.connections.logError('command', err);
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
