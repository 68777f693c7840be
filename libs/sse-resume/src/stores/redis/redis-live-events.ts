import { StoreUnavailableError, TaskExpiredError, TaskNotFoundError } from '../../errors';
import { isTerminalStatus, type TerminalStatus } from '../../interfaces/task-status.interface';
import type { TaskEventListener } from '../../interfaces/task-store.interface';
import { TaskEvent } from '../../task-event';
import type { RedisConnections } from './redis-connections';
import type { RedisKeyspace } from './redis-keyspace';

interface Watch {
  entries: Set<{ listener: TaskEventListener; onInterrupted?: () => void }>;
  ready: Promise<void>;
}

/**
 * Fans live events out from Redis pub/sub: one channel subscription per task with local
 * watchers (on the instance's subscriber connection, or on a Cluster the connection to the
 * task's shard: sharded pub/sub), the control channels' "ended" notices (one per bucket),
 * and the interruption of the watches whose connection dropped.
 */
export class RedisLiveEvents {
  private readonly watches = new Map<string, Watch>();
  private readonly controlChannels: Set<string>;

  constructor(
    private readonly connections: RedisConnections,
    private readonly keyspace: RedisKeyspace,
    private readonly onTaskEnded: (taskId: string, status: TerminalStatus) => void,
  ) {
    const { pubsub } = connections;
    this.controlChannels = new Set(keyspace.buckets.map((keys) => keys.controlChannel));
    pubsub.keep([...this.controlChannels]);
    pubsub.onMessage((channel, message) => this.onMessage(channel, message));
    pubsub.onLost((channels) => this.interruptWatches(channels));
  }

  /** See `TaskStore.watch`. Resolves once subscribed and the task is known to exist. */
  async watch(taskId: string, listener: TaskEventListener, onInterrupted?: () => void): Promise<() => void> {
    const channel = this.keyspace.of(taskId).liveChannel(taskId);
    let watch = this.watches.get(channel);
    if (!watch) {
      const created: Watch = { entries: new Set(), ready: Promise.resolve() };
      created.ready = this.subscribe(taskId, channel).catch((err: unknown) => {
        if (this.watches.get(channel) === created) this.unwatch(channel);
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
      if (current.entries.size === 0 && this.watches.get(channel) === current) this.unwatch(channel);
    };
  }

  /** Forgets every watch without telling it (the store is closing). */
  clear(): void {
    this.watches.clear();
  }

  /** Subscribes first, then checks the task: an event appended in between is not missed. */
  private subscribe(taskId: string, channel: string): Promise<void> {
    return this.connections.call(async () => {
      await this.connections.pubsub.subscribe(channel);
      const keys = this.keyspace.of(taskId);
      const [exists, gone] = await this.connections.pipelined<[number, number]>((p) =>
        p.exists(keys.taskKey(taskId, 'meta')).exists(keys.taskKey(taskId, 'gone')),
      );
      if (!exists) throw gone ? new TaskExpiredError(taskId) : new TaskNotFoundError(taskId);
    }, taskId);
  }

  private unwatch(channel: string): void {
    this.watches.delete(channel);
    this.connections.pubsub.unsubscribe(channel).catch(() => undefined);
  }

  private onMessage(channel: string, message: string): void {
    if (this.controlChannels.has(channel)) {
      const [kind, taskId, status] = message.split('\n');
      if (kind === 'ended' && taskId && isTerminalStatus(status)) this.onTaskEnded(taskId, status);
      return;
    }
    const watch = this.watches.get(channel);
    if (!watch || watch.entries.size === 0) return;
    const events = decodeLiveEvents(message);
    for (const entry of watch.entries) {
      for (const event of events) entry.listener(event);
    }
  }

  /**
   * A subscriber connection dropped: messages on its channels may be lost, so those live
   * streams must resume (on one node: every stream; on a Cluster: the failed shard's).
   */
  private interruptWatches(channels: readonly string[]): void {
    // One node: every watch, also one still subscribing (its channel went with the connection).
    const lost = this.connections.cluster ? channels : [...this.watches.keys()];
    const watches: Watch[] = [];
    for (const channel of lost) {
      const watch = this.watches.get(channel);
      if (!watch) continue;
      this.watches.delete(channel);
      watches.push(watch);
    }
    // Told once all are forgotten: a watch set up again meanwhile is a new one.
    for (const watch of watches) {
      for (const entry of watch.entries) entry.onInterrupted?.();
    }
  }
}

/** One event as a line triple of a live message (the scripts build the same text). */
export function encodeLiveEvent(event: TaskEvent): string {
  return `${event.seq}\n${event.type}\n${event.data}`;
}

/**
 * The events of one message that APPEND or FINISH published: lines seq, type, data, seq,
 * type, data ... (JSON data never contains a raw newline, so lines split it safely).
 */
export function decodeLiveEvents(message: string): TaskEvent[] {
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
  return events;
}
