import { HttpException } from '@nestjs/common';
import {
  InvalidEventError,
  InvalidResumePointError,
  ResumeKeyInvalidError,
  ResumePointAtEndError,
  SseResumeError,
  StoreUnavailableError,
  TaskAccessDeniedError,
  TaskError,
  TaskExpiredError,
  TaskNotFoundError,
  TaskNotRunningError,
  TooManySubscribersError,
  TooManyStreamsError,
  TooManyTasksError,
  StoreFullError,
  TaskOverloadedError,
  UnknownTaskHandlerError,
  DurableTasksDisabledError,
  InvalidTaskInputError,
  TaskFencedError,
} from './index';

describe('typed errors', () => {
  const cases: [SseResumeError, number, string, string, string][] = [
    [new TaskNotFoundError('t1'), 404, 'Not Found', 'TASK_NOT_FOUND', 'task t1 not found'],
    [
      new ResumeKeyInvalidError('t1'),
      403,
      'Forbidden',
      'RESUME_KEY_INVALID',
      'missing or wrong resume key for task t1',
    ],
    [new TaskExpiredError('t1'), 410, 'Gone', 'TASK_EXPIRED', 'task t1 has expired'],
    [
      new TaskNotRunningError('t1', 'completed'),
      409,
      'Conflict',
      'TASK_NOT_RUNNING',
      'task t1 is not running (status: completed)',
    ],
    [
      new InvalidResumePointError('bad'),
      400,
      'Bad Request',
      'INVALID_RESUME_POINT',
      'invalid resume point: bad',
    ],
    [
      new ResumePointAtEndError('t1', 9),
      204,
      'No Content',
      'RESUME_POINT_AT_END',
      'task t1 has ended at event 9: nothing left to stream',
    ],
    [new InvalidEventError('bad name'), 400, 'Bad Request', 'INVALID_EVENT', 'invalid event: bad name'],
    [
      new TooManyTasksError(10, 3),
      503,
      'Service Unavailable',
      'TOO_MANY_TASKS',
      'the task limit (10) is reached; retry in 3 s',
    ],
    [
      new StoreFullError(1024, 4),
      503,
      'Service Unavailable',
      'STORE_FULL',
      'the history budget (1024 bytes) is full; retry in 4 s',
    ],
    [
      new TaskOverloadedError('t1', 64),
      503,
      'Service Unavailable',
      'TASK_OVERLOADED',
      'task t1 emitted more than 64 bytes that are not stored yet; await emit() to be paced',
    ],
    [
      new TooManySubscribersError('t1', 5),
      429,
      'Too Many Requests',
      'TOO_MANY_SUBSCRIBERS',
      'task t1 already has 5 subscribers',
    ],
    [
      new TooManyStreamsError(3),
      503,
      'Service Unavailable',
      'TOO_MANY_STREAMS',
      'this instance already serves 3 streams (maxStreams); retry shortly',
    ],
    [
      new StoreUnavailableError('redis down'),
      503,
      'Service Unavailable',
      'STORE_UNAVAILABLE',
      'task store unavailable: redis down',
    ],
    [new TaskAccessDeniedError('t1'), 403, 'Forbidden', 'ACCESS_DENIED', 'access to task t1 denied'],
    [
      new UnknownTaskHandlerError('pdf', ['export']),
      500,
      'Internal Server Error',
      'UNKNOWN_TASK_HANDLER',
      `no task handler named "pdf" (known: "export"); decorate a provider with @TaskHandler('pdf')`,
    ],
    [
      new DurableTasksDisabledError('export'),
      500,
      'Internal Server Error',
      'DURABLE_TASKS_DISABLED',
      'task "export" was started with durable: true, but SseResumeModule has no durable option ' +
        "(add durable: {...} to forRoot, with store 'redis')",
    ],
    [
      new InvalidTaskInputError('not JSON'),
      400,
      'Bad Request',
      'INVALID_TASK_INPUT',
      'invalid task input: not JSON',
    ],
  ];

  it.each(cases)(
    '%p is HTTP %i with body {statusCode, error, message, code}',
    (error, status, text, code, message) => {
      expect(error).toBeInstanceOf(SseResumeError);
      expect(error).toBeInstanceOf(HttpException);
      expect(error).toBeInstanceOf(Error);
      expect(error.getStatus()).toBe(status);
      expect(error.getResponse()).toEqual({ statusCode: status, error: text, message, code });
      expect(error.code).toBe(code);
      expect(error.message).toBe(message);
      expect(error.name).toBe(error.constructor.name);
    },
  );

  it('says when an unknown handler name has no known names at all', () => {
    expect(new UnknownTaskHandlerError('x', []).message).toContain('(known: none)');
  });

  it('makes TaskFencedError a 409 TaskNotRunningError', () => {
    const fenced = new TaskFencedError('t1');
    expect(fenced).toBeInstanceOf(TaskNotRunningError);
    expect(fenced.getStatus()).toBe(409);
  });

  it('covers every error code once', () => {
    expect(new Set(cases.map(([error]) => error.code)).size).toBe(cases.length);
  });

  it('keeps the details callers need as fields', () => {
    expect(new TaskNotFoundError('a')).toMatchObject({ taskId: 'a' });
    expect(new TaskExpiredError('a')).toMatchObject({ taskId: 'a' });
    expect(new ResumeKeyInvalidError('a')).toMatchObject({ taskId: 'a' });
    expect(new TaskNotRunningError('a', 'failed')).toMatchObject({ taskId: 'a', taskStatus: 'failed' });
    expect(new ResumePointAtEndError('a', 4)).toMatchObject({ taskId: 'a', endEventId: 4 });
    expect(new TooManyTasksError(2, 7)).toMatchObject({ limit: 2, retryAfterSeconds: 7 });
    expect(new TooManySubscribersError('a', 3)).toMatchObject({ taskId: 'a', limit: 3 });
  });

  it('suggests a wait (Retry-After) for the errors a retry can cure', () => {
    expect(new StoreUnavailableError('down').retryAfterSeconds).toBe(5);
    expect(new TooManySubscribersError('a', 1).retryAfterSeconds).toBe(5);
    expect(new TooManyStreamsError(1)).toMatchObject({ limit: 1, retryAfterSeconds: 2 });
    expect(new TooManyTasksError(1, 42).retryAfterSeconds).toBe(42);
    expect(new TaskNotFoundError('a')).not.toHaveProperty('retryAfterSeconds');
  });

  it('keeps the cause of a store failure', () => {
    const cause = new Error('ECONNREFUSED');
    expect(new StoreUnavailableError('down', cause).cause).toBe(cause);
  });

  it('TaskError is a plain Error (not an HTTP error) whose message is public', () => {
    const cause = new Error('internal');
    const error = new TaskError('Disk full', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(HttpException);
    expect(error).toMatchObject({ name: 'TaskError', message: 'Disk full', cause });
  });
});
