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
