import type { TaskEvent } from '../task-event';
import type { StoreHealth, StoreHealthOptions } from './store-health.interface';
import type { TaskStatus, TerminalStatus } from './task-status.interface';

/** A task as a store keeps it. Times are epoch milliseconds. */
export interface TaskRecord {
  taskId: string;
  /** SHA-256 of the resume key, hex. The key itself is never stored. */
  keyHash: string;
  status: TaskStatus;
  createdAt: number;
  updatedAt: number;
  /** End + ttl once finished, else `null`. */
  expiresAt: number | null;
  /** Newest event id; 0 before the first. */
  lastEventId: number;
  /** Oldest event id still in history; `lastEventId + 1` when history is empty. */
  firstEventId: number;
  /** Id of the `end` event once finished, else `null`. */
  endEventId: number | null;
  /** Public error message of a failed or cancelled task. */
  error?: string;
  /** Instance that runs the task (stores shared by several instances). */
  ownerId?: string;
  /** What the application attached at start (e.g. the user id), for its `authorize` hook. */
  metadata?: Record<string, string>;
  /** Set for a durable task (run by queue workers) and for a task mirroring a queue's job. */
  durable?: boolean;
  /** Durable tasks: attempts claimed so far (0 while queued, 1 in the first attempt). */
  attempt?: number;
}

export interface NewTaskRecord {
  taskId: string;
  keyHash: string;
  createdAt: number;
  ownerId?: string;
  metadata?: Record<string, string>;
  /**
   * A durable task, or a task mirroring a queue's job: created without an owner, and no
   * orphan reaper ever fails it (the queue's own recovery hands its job to another worker;
   * the queue's final failure ends it).
   */
  durable?: boolean;
}

/** What a worker gets when it claims a durable task for an attempt ({@link TaskStore.claim}). */
export interface TaskClaim {
  /** 1 for the first attempt, one more for each claim. */
  attempt: number;
  /** Newest event id at the claim (0 before the first). */
  lastEventId: number;
  /** The newest checkpoint: its JSON state and the id of the event stored with it. */
  checkpoint?: { state: string; eventId: number };
}

/** An event of an outside source (a queue's job), for {@link TaskStore.appendOnce}. */
export interface SourceEvent {
  type: string;
  /** JSON text. */
  data: string;
}

/** A store's answer to "what is task X?". */
export type TaskLookup =
  | { state: 'found'; task: TaskRecord }
  /** It existed and expired; kept for a while so clients get 410 instead of 404. */
  | { state: 'expired'; taskId: string; keyHash: string }
  | { state: 'missing' };

/** Events after a given id, plus the bounds of the history at the time of reading. */
export interface HistorySlice {
  /** Ascending, contiguous, at most `limit`. */
  events: TaskEvent[];
  firstEventId: number;
  lastEventId: number;
}

/** What `readFrames` returns. */
export interface FrameSlice {
  /** The frames of `count` consecutive events. */
  text: string;
  count: number;
  /** Id of the last event in `text`, or `afterId` when there is none. */
  lastId: number;
  /** The last event in `text` is the task's `end` event. */
  ended: boolean;
  firstEventId: number;
  lastEventId: number;
}

/** How a task ends: its status and the JSON text of the `end` event. */
export interface TaskTermination {
  status: TerminalStatus;
  /** JSON text of the `end` event's data (`{status, result?, error?}`). */
  data: string;
  error?: string;
}

/** Limits a store applies. The module builds them from its options. */
export interface TaskStoreLimits {
  /** Ms a finished task stays readable. */
  ttl: number;
  /** Ms an expired task still answers "expired" (410) before it is forgotten (404). */
  expiredRetentionMs: number;
  historyLimit: number;
  historyBytes: number;
  /**
   * Bytes of history all tasks together may hold (see the `historyBudgetBytes` option):
   * past it a store drops the history of the oldest finished tasks first (keeping their
   * `end` event), then trims the appending task to its newest event, and `create` rejects
   * with `StoreFullError` while it is still over.
   */
  historyBudgetBytes: number;
  /** Tasks held at once, running or finished within their TTL (per instance, or per shared key prefix). */
  maxTasks: number;
}

export type TaskEventListener = (event: TaskEvent) => void;

/** Told when a task ends by another path than this instance's own `finish` (another instance, an orphan reaper). */
export type TaskEndedListener = (taskId: string, status: TerminalStatus) => void;

/**
 * Where tasks and their events live. Every method is async so that a networked store
 * (Redis) fits the same contract as the in-memory one. Implementations must:
 * - assign event ids 1, 2, 3 ... per task, atomically, in call order;
 * - keep at most `historyLimit` events / `historyBytes` per task, dropping the oldest;
 * - call watchers with every event appended after `watch()` resolved, in order;
 * - refuse appends to a finished task with `TaskNotRunningError`.
 */
export interface TaskStore {
  /**
   * Adds a running task. Rejects with `TooManyTasksError` when `maxTasks` are held, and with
   * `StoreFullError` when the history of all tasks still fills `historyBudgetBytes` after
   * the oldest finished tasks gave theirs up.
   */
  create(task: NewTaskRecord): Promise<void>;
  lookup(taskId: string): Promise<TaskLookup>;
  /** The task id a resume key (by its hash) belongs to, if it is still held. */
  findTaskIdByKeyHash(keyHash: string): Promise<string | undefined>;
  /** Appends one event and returns it with its id. */
  append(taskId: string, type: string, data: string): Promise<TaskEvent>;
  /**
   * Optional fast path of `append` for a store that keeps events in this process: appends
   * at once and returns the event, or throws what `append` would reject with. Tasks' emits
   * then cost no promise round trip per event.
   */
  appendNow?(taskId: string, type: string, data: string): TaskEvent;
  /**
   * Ends a running task: sets its status, appends the `end` event and starts its TTL.
   * Resolves to `undefined` (changing nothing) if the task has already ended.
   */
  finish(taskId: string, termination: TaskTermination): Promise<TaskEvent | undefined>;
  /** Up to `limit` events with ids greater than `afterId`. */
  read(taskId: string, afterId: number, limit: number): Promise<HistorySlice>;
  /**
   * Optional fast path of `read` for writers that need only the bytes: up to `limit`
   * events after `afterId` as SSE frames (exactly `TaskEvent.frame` each), stopping after
   * the event that makes the text reach `maxChars`.
   */
  readFrames?(taskId: string, afterId: number, limit: number, maxChars: number): Promise<FrameSlice>;
  /**
   * Calls `listener` with each new event of the task; resolves once live. Returns the way
   * to stop. A networked store calls `onInterrupted` (and stops calling `listener`) if live
   * delivery broke and events may have been missed: the hub then ends those streams, and
   * their clients resume from history.
   */
  watch(taskId: string, listener: TaskEventListener, onInterrupted?: () => void): Promise<() => void>;
  /**
   * The scheduled job's work: drops tasks whose TTL has passed (keeping an expiry record),
   * forgets old expiry records, and, in shared stores, fails tasks whose owner is gone.
   * Resolves to the number of tasks it ended or dropped.
   */
  evictExpired(now: number): Promise<number>;
  /** Releases connections and timers. */
  close(): Promise<void>;
  /** Connects; called once at application start. */
  init?(): Promise<void>;
  /** Subscribes to the ends of tasks (for tasks this instance runs but another path ended). */
  onTaskEnded?(listener: TaskEndedListener): () => void;
  /**
   * Optional: whether the store answers now, and details (latency, connections), for
   * health checks. Must settle within `timeoutMs` (a hung connection is `down`). A store
   * without it is probed with a `lookup()` of a task that does not exist.
   */
  health?(options: StoreHealthOptions): Promise<StoreHealth>;
  /**
   * Durable tasks: makes `ownerId` the owner of a running task for a new attempt. The task
   * gets a new fencing token, so that from now on every write (append, checkpoint, finish)
   * of an earlier owner fails with `TaskFencedError`, and its `attempt` grows by one.
   * Rejects with `TaskNotRunningError` once the task has ended, `TaskNotFoundError` if missing.
   */
  claim?(taskId: string, ownerId: string): Promise<TaskClaim>;
  /**
   * Durable tasks: appends one event and stores `state` (JSON text) as the task's checkpoint
   * with that event's id, atomically (both or neither), in order with the appends before it.
   */
  checkpoint?(taskId: string, type: string, data: string, state: string): Promise<TaskEvent>;
  /**
   * Durable tasks: this instance stops acting as the task's owner (an attempt ended without
   * ending the task: it threw and will be retried, or its worker shuts down). The task stays
   * running for the next claim.
   */
  releaseClaim?(taskId: string): void;
  /**
   * Mirrors events of an outside source (a BullMQ job's events) at most once: appends
   * `events` only if `position` sorts after (string comparison: callers use fixed-width
   * positions) the last position stored for `source` on this task, and stores `position`
   * with them, atomically. Resolves to the events appended (`[]` when already applied), so
   * that several instances may mirror the same source without repeating an event.
   */
  appendOnce?(taskId: string, source: string, position: string, events: SourceEvent[]): Promise<TaskEvent[]>;
  /** If set, the scheduled job runs at least this often (shared stores detect dead owners with it). */
  readonly maintenanceIntervalMs?: number;
  /** Events per history read during a replay (networked stores read more per round trip). Default 512. */
  readonly replayChunk?: number;
  /** Short name for logs, e.g. `memory` or `redis`. Nothing depends on its value. */
  readonly kind?: string;
  /**
   * Whether several instances of the application share the store's tasks (Redis) or only
   * this process sees them (memory). A shared store must implement `onTaskEnded` (a task
   * cancelled on one instance stops on the instance that runs it; checked at boot), and on
   * shutdown running tasks get a grace period by default, since other instances keep
   * serving their streams.
   */
  readonly shared: boolean;
}

/** Injection token of the {@link TaskStore} (same name, as `ThrottlerStorage` does it). */
export const TaskStore = Symbol('TaskStore');
