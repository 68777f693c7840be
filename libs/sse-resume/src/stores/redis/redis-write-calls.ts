import type { TaskStoreLimits, TaskTermination } from '../../interfaces/task-store.interface';
import type { TaskEvent } from '../../task-event';
import type { HistoryEntry } from './redis-append-recovery';
import type { RedisConnections } from './redis-connections';
import type { RedisKeyspace } from './redis-keyspace';
import type { RedisLeases } from './redis-leases';
import { encodeLiveEvent } from './redis-live-events';
import { durableWrite, type ReplicaWait } from './redis-replica-wait';
import { SCRIPTS } from './redis-scripts';
import {
  appendArgs,
  finishArgs,
  type EventToAppend,
  type PublishCommand,
  type WriteToken,
} from './redis-write-scripts';

/**
 * The Redis calls of the writer (redis-task-writer.ts), which decides when they are made:
 * the arguments of APPEND and FINISH (with the owner's fencing token and the last id it was
 * given), the calls themselves (followed by `WAIT` with `waitForReplicas`), and the publish
 * that then follows them (the scripts publish by themselves otherwise).
 */
export class RedisWriteCalls {
  constructor(
    private readonly connections: RedisConnections,
    private readonly keys: RedisKeyspace,
    private readonly limits: TaskStoreLimits,
    private readonly leases: RedisLeases,
    /** Writes wait for replicas (`WAIT`) and are published after it. */
    private readonly replicaWait?: ReplicaWait,
  ) {}

  /** How the scripts publish: by themselves, unless the writer does after `WAIT`. */
  private get publish(): PublishCommand {
    if (this.replicaWait) return '';
    return this.connections.cluster ? 'SPUBLISH' : 'PUBLISH';
  }

  /**
   * ARGV of APPEND; built again for a resend (the last id the owner was given may have
   * moved). `after`: the write this call follows while both are in flight (see IN_ORDER);
   * `once`: an appendOnce's source and position. A checkpoint rides on the last event.
   */
  appendArgs(
    taskId: string,
    events: readonly EventToAppend[],
    token: WriteToken,
    fence: string,
    after?: number,
    once?: { source: string; position: string },
  ): (string | number)[] {
    const known = fence === '' ? 0 : this.leases.knownOf(taskId);
    return appendArgs(
      { taskId, fence, events, token, known, publish: this.publish, after, once },
      this.keys.of(taskId),
      this.limits,
    );
  }

  /**
   * APPEND by its SHA-1 (EVALSHA). A call sent behind others in flight (`alone` false) is
   * not sent again by its text on NOSCRIPT: it fails, the writer settles what was applied
   * and resends in order, and calls behind an unapplied one are refused by IN_ORDER. A call
   * sent alone may fall back to the text at once.
   */
  append(taskId: string, args: (string | number)[], alone: boolean): Promise<unknown> {
    const keys = this.keys.writeKeys(taskId);
    if (this.replicaWait)
      return durableWrite(this.connections, SCRIPTS.append, keys, args, this.replicaWait, alone);
    if (alone) return this.connections.eval(SCRIPTS.append, keys, args);
    return this.connections.client.evalsha(SCRIPTS.append.sha, keys.length, ...keys, ...args);
  }

  /** FINISH with this instance's fencing token (none: a cancel from a non-owner). */
  finish(taskId: string, termination: TaskTermination, token: WriteToken): Promise<unknown> {
    const keys = this.keys.of(taskId);
    const args = finishArgs(
      {
        taskId,
        termination,
        fence: this.leases.fenceOf(taskId),
        onlyIfLeaseLapsed: false,
        token,
        known: this.leases.knownOf(taskId),
        publish: this.publish,
      },
      keys,
      this.limits,
    );
    const writeKeys = keys.writeKeys(taskId);
    if (this.replicaWait)
      return durableWrite(this.connections, SCRIPTS.finish, writeKeys, args, this.replicaWait, true);
    return this.connections.eval(SCRIPTS.finish, writeKeys, args);
  }

  /** A task's history entries from `from` to `to` (ids), to place writes by their contents. */
  async readHistory(taskId: string, from: number, to: number): Promise<HistoryEntry[]> {
    const entries = await this.connections.client.xrange(
      this.keys.taskKey(taskId, 'events'),
      `${from}-0`,
      `${to}-0`,
    );
    return entries.map(([id, fields]) => ({
      seq: Number(id.slice(0, -2)),
      type: fields[1] ?? '',
      data: fields[3] ?? '',
    }));
  }

  /** With `waitForReplicas`: announces stored events (called in id order, so sent in id order). */
  announce(taskId: string, events: readonly TaskEvent[]): void {
    if (!this.replicaWait) return;
    this.publishAfterWait(this.keys.liveChannel(taskId), events.map(encodeLiveEvent).join('\n'));
  }

  /** With `waitForReplicas`: announces a task's end, to its watchers and to every instance. */
  announceEnd(taskId: string, end: TaskEvent, status: string): void {
    if (!this.replicaWait) return;
    const keys = this.keys.of(taskId);
    this.publishAfterWait(keys.liveChannel(taskId), encodeLiveEvent(end));
    this.publishAfterWait(keys.controlChannel, `ended\n${taskId}\n${status}`);
  }

  private publishAfterWait(channel: string, message: string): void {
    this.connections.publish(channel, message).catch((err: unknown) => {
      // Stored and replicated, but not announced: watchers see a jump (a gap) or resume.
      this.connections.logError('command', err);
    });
  }
}
