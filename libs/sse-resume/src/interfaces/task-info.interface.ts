import type { TaskStatus } from './task-status.interface';

/** What `getTaskInfo()` reports about a task. Dates are ISO-8601 strings, ready for JSON. */
export interface TaskInfo {
  taskId: string;
  status: TaskStatus;
  createdAt: string;
  updatedAt: string;
  /** When the task stops being resumable: its end + `ttl`; `null` while it runs. */
  expiresAt: string | null;
  /** Id of the newest event (the `end` event once finished); 0 before the first. */
  lastEventId: number;
  /** Open streams of this task on this instance. */
  subscribers: number;
  /** Their subscriber ids. */
  subscriberIds: string[];
  /** The public error message of a failed or cancelled task. */
  error?: string;
  /** What the application attached with `start(source, { metadata })`. */
  metadata?: Record<string, string>;
  /** Durable tasks: the attempt running or last run (1 for the first; 0 while queued). */
  attempt?: number;
}
