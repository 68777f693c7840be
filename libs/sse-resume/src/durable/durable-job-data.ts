import type { DurableBackoff } from '../interfaces/durable-task.interface';

/** What a durable task's BullMQ job carries (job name = handler name, job id = task id). */
export interface DurableJobData {
  taskId: string;
  /** The handler's input (JSON). */
  input: unknown;
  /** Epoch ms past which the task fails as timed out, across attempts (from `timeoutMs`). */
  deadline?: number;
  /** The `timeoutMs` the deadline came from, for the message. */
  timeoutMs?: number;
}

/** Job options the starter sets: a subset of BullMQ's `JobsOptions`. */
export interface DurableJobOptions {
  jobId: string;
  attempts: number;
  backoff: DurableBackoff;
  priority?: number;
  delay?: number;
  removeOnComplete: { age: number };
  removeOnFail: { age: number };
}

/**
 * What the starter needs of BullMQ's `Queue`: structural, so that the library's public
 * types never name `bullmq` (an optional peer that a consumer may not have installed).
 */
export interface DurableJobQueue {
  add(name: string, data: DurableJobData, options: DurableJobOptions): Promise<unknown>;
}
