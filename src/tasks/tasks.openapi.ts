import { applyDecorators } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBadRequestResponse,
  ApiBody,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiOkResponse,
  ApiOperation,
  ApiPayloadTooLargeResponse,
  ApiProperty,
  ApiPropertyOptional,
  ApiServiceUnavailableResponse,
} from '@nestjs/swagger';

/**
 * The OpenAPI documentation of the example's task routes, beside what `@SseResume()`,
 * `@TaskAccess()` and `@ResumeCookie()` document by themselves (the stream, the key and
 * resume parameters, the library's errors, the cookie). These classes only describe JSON.
 */

export class CreateTaskBody {
  @ApiPropertyOptional({ description: 'Progress events to emit.', minimum: 1, maximum: 100_000, default: 10 })
  steps?: number;

  @ApiPropertyOptional({
    description: 'Pause before each event, ms.',
    minimum: 0,
    maximum: 60_000,
    default: 500,
  })
  intervalMs?: number;

  @ApiPropertyOptional({
    description: "Extra characters in each event's `payload`.",
    minimum: 0,
    maximum: 1_048_576,
    default: 0,
  })
  payloadBytes?: number;

  @ApiPropertyOptional({
    description: 'Fail at this step (before emitting it).',
    minimum: 0,
    maximum: 100_000,
  })
  failAt?: number;

  @ApiPropertyOptional({
    description:
      'Run it as a durable task: a BullMQ job that any worker runs, taken over by another worker (from its last step) if that one dies; its stream shows `retry` between attempts. Needs Redis (400 without).',
    default: false,
  })
  durable?: boolean;
}

export class CreatedTaskBody {
  @ApiProperty({ description: 'The task id (a UUID).', format: 'uuid' })
  taskId!: string;

  @ApiProperty({
    description:
      "The task's secret: send it as `x-resume-key` to stream, query and cancel it (browsers also get it as the cookie `sse-resume-<taskId>`).",
  })
  resumeKey!: string;

  @ApiProperty({ description: 'Where its events stream.', example: '/tasks/0f5b7a9e-…/events?key=…' })
  streamUrl!: string;
}

export class TaskInfoBody {
  @ApiProperty({ format: 'uuid' })
  taskId!: string;

  @ApiProperty({ enum: ['running', 'completed', 'failed', 'cancelled'] })
  status!: string;

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;

  @ApiProperty({ format: 'date-time' })
  updatedAt!: string;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'When it stops being resumable (its end + TTL); `null` while it runs.',
  })
  expiresAt!: string | null;

  @ApiProperty({ description: 'Id of the newest event (the `end` event once finished); 0 before the first.' })
  lastEventId!: number;

  @ApiProperty({ description: 'Open streams of the task on this instance.' })
  subscribers!: number;

  @ApiPropertyOptional({ description: 'The public error message of a failed or cancelled task.' })
  error?: string;

  @ApiPropertyOptional({
    description: 'Durable tasks: the attempt running or last run (1 for the first, 0 while queued).',
    minimum: 0,
  })
  attempt?: number;
}

export class CancelledTaskBody {
  @ApiProperty({ format: 'uuid' })
  taskId!: string;

  @ApiProperty({ enum: ['cancelled'] })
  status!: string;
}

/** `{ statusCode, error, message, code }` of the library's errors with the given codes. */
function libraryError(status: number, codes: string[]) {
  return {
    type: 'object',
    required: ['statusCode', 'error', 'message', 'code'],
    properties: {
      statusCode: { type: 'integer', enum: [status] },
      error: { type: 'string' },
      message: { type: 'string' },
      code: { type: 'string', enum: codes },
    },
  };
}

const RETRY_AFTER = { 'Retry-After': { description: 'Seconds to wait.', schema: { type: 'integer' } } };

export const ApiStartTask = () =>
  applyDecorators(
    ApiOperation({ summary: 'Start a demo task' }),
    ApiBody({ type: CreateTaskBody, required: true }),
    ApiCreatedResponse({ description: 'The task has started.', type: CreatedTaskBody }),
    ApiBadRequestResponse({
      description:
        'The body is not a JSON object of the known fields within range, or asks for a durable task without Redis.',
      schema: {
        type: 'object',
        properties: {
          statusCode: { type: 'integer', enum: [400] },
          error: { type: 'string' },
          message: { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
        },
      },
    }),
    ApiPayloadTooLargeResponse({ description: 'The body is larger than 16 KiB.' }),
    ApiServiceUnavailableResponse({
      description: '`maxTasks` tasks are held, history fills `historyBudgetBytes`, or the store is away.',
      schema: libraryError(503, ['TOO_MANY_TASKS', 'STORE_FULL', 'STORE_UNAVAILABLE']),
      headers: RETRY_AFTER,
    }),
  );

export const ApiTaskEvents = () => ApiOperation({ summary: "Stream a task's events (resumable)" });

export const ApiTaskInfo = () =>
  applyDecorators(
    ApiOperation({ summary: 'A task: status, times, last event id' }),
    ApiOkResponse({ description: 'The task.', type: TaskInfoBody }),
  );

export const ApiCancelTask = () =>
  applyDecorators(
    ApiOperation({ summary: 'Cancel a running task' }),
    ApiAcceptedResponse({
      description: 'Cancelled: its streams end with `end` status `cancelled`.',
      type: CancelledTaskBody,
    }),
    ApiConflictResponse({
      description: 'The task has ended already.',
      schema: libraryError(409, ['TASK_NOT_RUNNING']),
    }),
  );
