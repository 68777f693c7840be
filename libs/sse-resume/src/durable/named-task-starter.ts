import { DurableTasksDisabledError, InvalidTaskInputError, StoreUnavailableError } from '../errors';
import type { DurableTaskContext, StartNamedTaskOptions } from '../interfaces/durable-task.interface';
import type { ResolvedSseResumeOptions } from '../interfaces/sse-resume-options.interface';
import type {
  StartedTask,
  StartTaskOptions,
  TaskContext,
  TaskSource,
} from '../interfaces/task-context.interface';
import type { TaskStore } from '../interfaces/task-store.interface';
import { checkBackoff } from '../sse-resume.options';
import { createTask } from '../tasks/create-task';
import { checkMetadata, type TaskSerializer } from '../tasks/task-serializer';
import type { DurableJobData, DurableJobQueue } from './durable-job-data';
import type { ResolvedDurableTasksOptions } from './durable-runtime-options';
import { NOT_QUEUED_ERROR } from './durable.constants';
import type { TaskHandlerRegistry } from './task-handler-registry';

/** setTimeout's longest delay. */
const MAX_TIMEOUT_MS = 2_147_483_647;

/** Runs a task source in this process (the service's `TaskRunner.start`). */
export type LocalStart = (source: TaskSource, options: StartTaskOptions) => Promise<StartedTask>;

/**
 * `start(name, input, options)`: finds the handler, checks the input, and runs the task in
 * this process (through the task runner) or, durable, creates it in the store and adds its
 * BullMQ job.
 */
export class NamedTaskStarter {
  constructor(
    private readonly store: TaskStore,
    private readonly options: ResolvedSseResumeOptions,
    private readonly durable: ResolvedDurableTasksOptions | undefined,
    private readonly registry: TaskHandlerRegistry,
    private readonly serializer: TaskSerializer,
    private readonly queue: () => DurableJobQueue | undefined,
  ) {}

  async start(
    name: string,
    input: unknown,
    options: StartNamedTaskOptions,
    runLocal: LocalStart,
  ): Promise<StartedTask> {
    const handler = this.registry.get(name);
    checkInput(input);
    if (!options.durable) {
      return runLocal((context: TaskContext) => handler.run(input, this.localContext(context)), options);
    }
    const queue = this.queue();
    if (!this.durable || !queue) throw new DurableTasksDisabledError(name);
    const timeoutMs = options.timeoutMs ?? this.options.defaultTimeoutMs;
    checkInteger('timeoutMs', timeoutMs, 1, MAX_TIMEOUT_MS);
    checkInteger('attempts', options.attempts, 1, 1_000);
    checkInteger('priority', options.priority, 1, 2_097_152);
    checkInteger('delay', options.delay, 0, MAX_TIMEOUT_MS);
    const backoff = checkBackoff('backoff', options.backoff) ?? this.durable.backoff;
    const metadata = checkMetadata(options.metadata);
    const { taskId, resumeKey } = await createTask(this.store, {
      durable: true,
      ...(metadata && { metadata }),
    });
    const data: DurableJobData = {
      taskId,
      input,
      ...(timeoutMs !== undefined && { deadline: Date.now() + timeoutMs, timeoutMs }),
    };
    // Jobs are kept as long as their tasks are (the stream, not BullMQ, is the record).
    const keep = { age: Math.ceil(this.options.ttl / 1_000) };
    try {
      await queue.add(name, data, {
        jobId: taskId,
        attempts: options.attempts ?? this.durable.attempts,
        backoff,
        ...(options.priority !== undefined && { priority: options.priority }),
        ...(options.delay !== undefined && { delay: options.delay }),
        removeOnComplete: keep,
        removeOnFail: keep,
      });
    } catch (err) {
      await this.store
        .finish(taskId, this.serializer.termination({ status: 'failed', error: NOT_QUEUED_ERROR }, taskId))
        .catch(() => undefined); // the task then fails with its owner-less lease never renewed
      throw new StoreUnavailableError('the task could not be queued', err);
    }
    return { taskId, resumeKey };
  }

  /** A named task run in this process: attempt 1, no checkpoint to start from, checkpoints are emits. */
  private localContext(context: TaskContext): DurableTaskContext {
    return {
      taskId: context.taskId,
      signal: context.signal,
      attempt: 1,
      lastCheckpoint: undefined,
      emit: (data: unknown, options?: { event?: string }) => context.emit(data, options),
      checkpoint: (state: unknown, data: unknown, options?: { event?: string }) => {
        try {
          JSON.stringify(state);
        } catch (err) {
          return Promise.reject(err instanceof Error ? err : new Error(String(err)));
        }
        return context.emit(data, options);
      },
    } as DurableTaskContext;
  }
}

/** The input must survive JSON (it travels in a job): no functions, cycles, BigInts, or `undefined`. */
function checkInput(input: unknown): void {
  let json: string | undefined;
  try {
    json = JSON.stringify(input);
  } catch (err) {
    throw new InvalidTaskInputError(
      `not JSON-serializable (${err instanceof Error ? err.message : String(err)})`,
    );
  }
  if (json === undefined) throw new InvalidTaskInputError(`not JSON-serializable (${typeof input})`);
}

function checkInteger(name: string, value: unknown, min: number, max: number): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value) ?? typeof value}`,
    );
  }
}
