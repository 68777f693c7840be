import { StoreUnavailableError, TaskExpiredError, TaskNotFoundError } from '../../errors';
import { isTerminalStatus, type TerminalStatus } from '../../interfaces/task-status.interface';
import type { TaskEventListener } from '../../interfaces/task-store.interface';
import { TaskEvent } from '../../task-event';
import type { RedisConnections } from './redis-connections';
import type { RedisKeys } from './redis-keys';

interface Watch {
  entries: Set<{ listener: TaskEventListener; onInterrupted?: () => void }>;
  ready: Promise<void>;
}

/**
 * Fans live events out from Redis pub/sub: one channel subscription per task with local
 * watchers (on the instance's one subscriber connection), the control channel's "ended"
 * notices, and the interruption of every watch when that connection drops.
 */
export class RedisLiveEvents {
  private readonly watches = new Map<string, Watch>();

  constructor(
    private readonly connections: RedisConnections,
    private readonly keys: RedisKeys,
    private readonly onTaskEnded: (taskId: string, status: TerminalStatus) => void,
  ) {
    const { subscriber } = connections;
    subscriber.on('message', (channel: string, message: string) => this.onMessage(channel, message));
    subscriber.on('close', () => this.interruptWatches());
    subscriber.on('ready', () => {
      subscriber
        .subscribe(keys.controlChannel)
        .catch((err: unknown) => connections.logError('subscriber', err));
    });
  }

  /** See `TaskStore.watch`. Resolves once subscribed and the task is known to exist. */
  async watch(taskId: string, listener: TaskEventListener, onInterrupted?: () => void): Promise<() => void> {
    const channel = this.keys.liveChannel(taskId);
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
      await this.connections.subscriber.subscribe(channel);
      const [exists, gone] = await this.connections.pipelined<[number, number]>((p) =>
        p.exists(this.keys.taskKey(taskId, 'meta')).exists(this.keys.taskKey(taskId, 'gone')),
      );
      if (!exists) throw gone ? new TaskExpiredError(taskId) : new TaskNotFoundError(taskId);
    }, taskId);
  }

  private unwatch(channel: string): void {
    this.watches.delete(channel);
    this.connections.subscriber.unsubscribe(channel).catch(() => undefined);
  }

  private onMessage(channel: string, message: string): void {
    if (channel === this.keys.controlChannel) {
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

  /** The subscriber connection dropped: messages may be lost, so live streams must resume. */
  private interruptWatches(): void {
    const watches = [...this.watches.values()];
    this.watches.clear();
    for (const watch of watches) {
      for (const entry of watch.entries) entry.onInterrupted?.();
    }
  }
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
