import type { Logger } from '@nestjs/common';
import { TooManyStreamsError } from '../errors/too-many-streams.error';
import { TooManySubscribersError } from '../errors/too-many-subscribers.error';
import type { TaskStore } from '../interfaces/task-store.interface';
import { EventBatch } from './sse-frames';
import type { TaskEvent } from '../task-event';
import type { TaskSubscription } from './task-subscription';
import { errorStack, errorText, logRecord } from '../log-record';
import { NOOP_METRICS, type SseResumeMetrics } from '../metrics/sse-resume-metrics';

interface TaskGroup {
  readonly taskId: string;
  readonly subscribers: Set<TaskSubscription>;
  /** Resolves once the store delivers live events of the task. */
  ready: Promise<void>;
  unwatch: (() => void) | undefined;
  pending: TaskEvent[];
  flushScheduled: boolean;
  /** A flush already ran at the end of a microtask this turn: later events of the turn wait for its end. */
  flushedThisTurn: boolean;
  closed: boolean;
}

export interface TaskHubOptions {
  heartbeatMs: number;
  maxSubscribersPerTask: number;
  /** Open streams on this instance, all tasks together. */
  maxStreams: number;
}

/**
 * This instance's fan-out: one store watch per task with local subscribers, events
 * gathered per turn of the event loop into one {@link EventBatch} that every subscriber
 * of the task shares, and one heartbeat ticker for all streams.
 */
export class TaskHub {
  private readonly groups = new Map<string, TaskGroup>();
  private ticker: NodeJS.Timeout | undefined;
  /** Open streams of every task (kept as they join and leave, not summed per request). */
  private streams = 0;

  constructor(
    private readonly store: TaskStore,
    private readonly options: TaskHubOptions,
    private readonly logger: Logger,
    private readonly metrics: SseResumeMetrics = NOOP_METRICS,
  ) {}

  /** Adds a subscriber; resolves (with the way to leave) once live events flow to it. */
  async join(subscription: TaskSubscription): Promise<() => void> {
    if (this.streams >= this.options.maxStreams) throw new TooManyStreamsError(this.options.maxStreams);
    const group = this.groups.get(subscription.taskId) ?? this.openGroup(subscription.taskId);
    if (group.subscribers.size >= this.options.maxSubscribersPerTask) {
      this.closeGroupIfIdle(group);
      throw new TooManySubscribersError(subscription.taskId, this.options.maxSubscribersPerTask);
    }
    group.subscribers.add(subscription);
    this.streams++;
    this.metrics.streamOpened();
    this.startTicker();
    try {
      await group.ready;
    } catch (err) {
      this.leave(group, subscription);
      throw err;
    }
    return () => this.leave(group, subscription);
  }

  /** Open streams of a task on this instance. */
  subscriberCount(taskId: string): number {
    return this.groups.get(taskId)?.subscribers.size ?? 0;
  }

  subscribersOf(taskId: string): TaskSubscription[] {
    const group = this.groups.get(taskId);
    return group ? [...group.subscribers] : [];
  }

  /** Open streams on this instance, all tasks together. */
  get subscriptionCount(): number {
    return this.streams;
  }

  /** Ends every stream without a terminal event, so clients reconnect (elsewhere). */
  endAll(): void {
    for (const group of [...this.groups.values()]) {
      for (const subscription of [...group.subscribers]) subscription.end();
    }
  }

  stop(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
    for (const group of this.groups.values()) {
      if (group.subscribers.size > 0) this.metrics.streamClosed(group.subscribers.size);
      group.subscribers.clear(); // a later leave() finds nothing to count twice
      this.closeGroup(group);
    }
    this.groups.clear();
    this.streams = 0;
  }

  private openGroup(taskId: string): TaskGroup {
    const group: TaskGroup = {
      taskId,
      subscribers: new Set(),
      ready: Promise.resolve(),
      unwatch: undefined,
      pending: [],
      flushScheduled: false,
      flushedThisTurn: false,
      closed: false,
    };
    group.ready = this.store
      .watch(
        taskId,
        (event) => this.onEvent(group, event),
        () => this.interrupt(group),
      )
      .then((unwatch) => {
        if (group.closed) unwatch();
        else group.unwatch = unwatch;
      });
    // The first joiner awaits `ready` and gets the error; this only keeps it from being unhandled.
    group.ready.catch(() => undefined);
    this.groups.set(taskId, group);
    return group;
  }

  /** Live delivery broke (e.g. Redis connection lost): end the streams, clients resume from history. */
  private interrupt(group: TaskGroup): void {
    if (group.closed) return;
    this.logger.warn(
      logRecord('live events were interrupted; ending the streams so clients resume', {
        taskId: group.taskId,
        subscribers: group.subscribers.size,
      }),
    );
    for (const subscription of [...group.subscribers]) subscription.end();
    if (this.groups.get(group.taskId) === group) this.groups.delete(group.taskId);
    this.closeGroup(group);
  }

  /**
   * Events are written once the code that emitted them yields: the first batch of a turn of
   * the event loop in a microtask (at once, even when a busy loop would put the turn's end
   * far off: 10,000 streams' I/O delayed `setImmediate` by ~100 ms), later ones at the end of
   * the turn, so that an awaited emit loop still costs two writes per turn, not one per event.
   */
  private onEvent(group: TaskGroup, event: TaskEvent): void {
    group.pending.push(event);
    if (group.flushScheduled) return;
    group.flushScheduled = true;
    if (group.flushedThisTurn) {
      setImmediate(() => this.flush(group));
      return;
    }
    group.flushedThisTurn = true;
    queueMicrotask(() => this.flush(group));
    setImmediate(() => {
      group.flushedThisTurn = false;
    });
  }

  private flush(group: TaskGroup): void {
    group.flushScheduled = false;
    const events = group.pending;
    group.pending = [];
    if (events.length === 0 || group.closed) return;
    const batch = new EventBatch(events);
    for (const subscription of group.subscribers) {
      try {
        subscription.deliver(batch);
      } catch (err) {
        this.logger.error(
          logRecord('delivering to a subscriber failed; ending its stream', {
            taskId: group.taskId,
            subscriberId: subscription.subscriberId,
            error: errorText(err),
          }),
          errorStack(err),
        );
        subscription.end();
      }
    }
  }

  private leave(group: TaskGroup, subscription: TaskSubscription): void {
    if (group.subscribers.delete(subscription)) {
      this.streams--;
      this.metrics.streamClosed();
    }
    this.closeGroupIfIdle(group);
    if (this.groups.size === 0 && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = undefined;
    }
  }

  private closeGroupIfIdle(group: TaskGroup): void {
    if (group.subscribers.size === 0 && this.groups.get(group.taskId) === group) {
      this.groups.delete(group.taskId);
      this.closeGroup(group);
    }
  }

  private closeGroup(group: TaskGroup): void {
    group.closed = true;
    group.pending = [];
    group.unwatch?.();
    group.unwatch = undefined;
  }

  private startTicker(): void {
    if (this.ticker) return;
    // Twice per period: a stream idle since the previous tick gets a comment, so no idle
    // stream goes longer than heartbeatMs without a byte.
    this.ticker = setInterval(() => this.tick(), Math.max(1, Math.floor(this.options.heartbeatMs / 2)));
    this.ticker.unref();
  }

  private tick(): void {
    for (const group of this.groups.values()) {
      for (const subscription of group.subscribers) subscription.heartbeat();
    }
  }
}
