import { HttpException } from '@nestjs/common';
import { STATUS_CODES } from 'node:http';

/** Machine-readable error codes, sent as `code` in every JSON error body. */
export type SseResumeErrorCode =
  | 'TASK_NOT_FOUND'
  | 'TASK_NOT_RUNNING'
  | 'TASK_EXPIRED'
  | 'RESUME_KEY_INVALID'
  | 'INVALID_RESUME_POINT'
  | 'RESUME_POINT_AT_END'
  | 'INVALID_EVENT'
  | 'TOO_MANY_TASKS'
  | 'TOO_MANY_SUBSCRIBERS'
  | 'TOO_MANY_STREAMS'
  | 'STORE_UNAVAILABLE'
  | 'ACCESS_DENIED'
  | 'STORE_FULL'
  | 'TASK_OVERLOADED'
  | 'UNKNOWN_TASK_HANDLER'
  | 'DURABLE_TASKS_DISABLED'
  | 'INVALID_TASK_INPUT';

/** The JSON body Nest sends for every {@link SseResumeError}. */
export interface SseResumeErrorBody {
  statusCode: number;
  error: string;
  message: string;
  code: SseResumeErrorCode;
}

/**
 * Base class of the library's errors. Each one is an `HttpException`, so Nest's
 * default exception filter answers with the right status and a JSON body
 * (`{ statusCode, error, message, code }`) without any extra filter.
 */
export abstract class SseResumeError extends HttpException {
  abstract readonly code: SseResumeErrorCode;

  protected constructor(
    message: string,
    status: number,
    code: SseResumeErrorCode,
    options?: { cause?: unknown },
  ) {
    const body: SseResumeErrorBody = {
      statusCode: status,
      error: STATUS_CODES[status] ?? 'Error',
      message,
      code,
    };
    super(body, status, options);
    this.name = new.target.name;
  }
}
