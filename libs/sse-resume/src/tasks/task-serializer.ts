import type { LoggerService } from '@nestjs/common';
import { RESERVED_EVENTS } from '../sse-resume.constants';
import { InvalidEventError, SseResumeError, TaskError } from '../errors';
import type { TerminalStatus } from '../interfaces/task-status.interface';
import type { TaskTermination } from '../interfaces/task-store.interface';
import { logRecord } from '../log-record';

/** What clients see of a task that failed with an error that is not a {@link TaskError}. */
export const GENERIC_FAILURE = 'Task failed';
/** Largest `metadata`, as JSON. */
const MAX_METADATA_CHARS = 4096;
const EVENT_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;

/** How a task ends, before it is serialized into the `end` event. */
export interface Outcome {
  status: TerminalStatus;
  result?: unknown;
  error?: string;
}

/**
 * Turns what tasks hand the library (event data, results, metadata, errors) into what
 * stores keep and clients see, refusing what cannot be stored.
 */
export class TaskSerializer {
  constructor(
    private readonly maxEventBytes: number,
    private readonly logger: LoggerService,
  ) {}

  /** The JSON text of an event's data; throws `InvalidEventError` for a bad name or data. */
  event(data: unknown, event: string | undefined): string {
    if (event !== undefined) {
      if (typeof event !== 'string' || !EVENT_NAME.test(event)) {
        throw new InvalidEventError('event names are 1-64 characters of A-Z a-z 0-9 _ . : -');
      }
      if (RESERVED_EVENTS.has(event)) throw new InvalidEventError(`the event name "${event}" is reserved`);
    }
    let json: string | undefined;
    try {
      json = JSON.stringify(data === undefined ? null : data);
    } catch (err) {
      throw new InvalidEventError(
        `data is not JSON-serializable (${err instanceof Error ? err.message : String(err)})`,
      );
    }
    json ??= 'null';
    const max = this.maxEventBytes;
    // A UTF-8 character is at most 3 bytes per UTF-16 unit: short text needs no byte count.
    if (json.length > max / 3 && Buffer.byteLength(json) > max) {
      throw new InvalidEventError(
        `data is ${Buffer.byteLength(json)} bytes, more than maxEventBytes (${max})`,
      );
    }
    return json;
  }

  /** The `end` event of an outcome; a result that cannot be serialized makes it `failed`. */
  termination(outcome: Outcome, taskId: string): TaskTermination {
    const end: { status: TerminalStatus; result?: unknown; error?: string } = { status: outcome.status };
    if (outcome.result !== undefined) end.result = outcome.result;
    if (outcome.error !== undefined) end.error = outcome.error;
    try {
      return { status: outcome.status, data: JSON.stringify(end), error: outcome.error };
    } catch {
      const error = 'Task result is not JSON-serializable';
      this.logger.error(
        logRecord("the task's result could not be serialized; the task is marked failed", { taskId }),
      );
      return { status: 'failed', data: JSON.stringify({ status: 'failed', error }), error };
    }
  }
}

/** A copy of `metadata` if it is an object of strings of at most 4 KiB as JSON; throws otherwise. */
export function checkMetadata(metadata: unknown): Record<string, string> | undefined {
  if (metadata === undefined) return undefined;
  if (
    typeof metadata !== 'object' ||
    metadata === null ||
    Array.isArray(metadata) ||
    !Object.values(metadata).every((value) => typeof value === 'string')
  ) {
    throw new TypeError('metadata must be an object of strings');
  }
  if (JSON.stringify(metadata).length > MAX_METADATA_CHARS) {
    throw new RangeError(`metadata must be at most ${MAX_METADATA_CHARS} characters as JSON`);
  }
  return { ...(metadata as Record<string, string>) };
}

/** The message clients may see for a task's error: only the library's and `TaskError`s are public. */
export function publicMessage(err: unknown): string {
  if (err instanceof TaskError || err instanceof SseResumeError) return err.message;
  return GENERIC_FAILURE;
}
