import * as library from './index';

describe('public API (@app/sse-resume)', () => {
  it('exports its classes, functions and tokens under stable names', () => {
    const expected = [
      'SseResumeModule',
      'SSE_RESUME_RESOLVED_OPTIONS',
      'SseTaskService',
      'TaskAbortedError',
      'SseResume',
      'LastEventId',
      'ResumeKey',
      'ResumeCookie',
      'resumeCookieName',
      'RESUME_COOKIE_PATH_HEADER',
      'SseResumeGuard',
      'TaskAccess',
      'TaskAccessGuard',
      'SseResumeExceptionFilter',
      'TaskAccessDeniedError',
      'SseResumeInterceptor',
      'TaskEvent',
      'InMemoryTaskStore',
      'TaskStore',
      'TERMINAL_STATUSES',
      'isTerminalStatus',
      'SseResumeError',
      'TaskError',
      'TaskNotFoundError',
      'TaskExpiredError',
      'TaskNotRunningError',
      'ResumeKeyInvalidError',
      'InvalidResumePointError',
      'ResumePointAtEndError',
      'InvalidEventError',
      'TooManyTasksError',
      'TooManySubscribersError',
      'TooManyStreamsError',
      'StoreUnavailableError',
      'END_EVENT',
      'GAP_EVENT',
      'PROGRESS_EVENT',
      'EVICTION_JOB_NAME',
      'RESUME_KEY_HEADER',
      'StoreFullError',
      'TaskOverloadedError',
      'TaskAbortedError',
      'TaskFencedError',
      'TaskHandler',
      'RETRY_EVENT',
      'UnknownTaskHandlerError',
      'DurableTasksDisabledError',
      'InvalidTaskInputError',
      'QueueStreamService',
      'QueueJobStream',
      'QueueJobStreamGuard',
      'QueueJobStreamInterceptor',
    ];
    const exported = library as Record<string, unknown>;
    for (const name of expected)
      expect({ name, defined: exported[name] !== undefined }).toEqual({ name, defined: true });
  });

  it('exports nothing else at run time: internals stay internal', () => {
    const internals = [
      'resolveOptions',
      'SSE_RESUME_GIVEN_OPTIONS',
      'SseResumeConfigurableModule',
      'TaskEvictionService',
      'HEARTBEAT_FRAME',
      'hashResumeKey',
      'generateResumeKey',
      'parseResumePoint',
      'DEFAULT_TTL_MS',
      'TaskRunner',
      'TaskHub',
      'TaskSubscription',
      'ResumeCookieInterceptor',
      'RESUME_COOKIE_PREFIX',
      'readCookie',
      'DurableTaskRuntime',
      'TaskHandlerRegistry',
      'loadBullmq',
      'queueStreamProviders',
    ];
    const exported = library as Record<string, unknown>;
    for (const name of internals)
      expect({ name, exported: name in exported }).toEqual({ name, exported: false });
    // Every runtime export is a documented one (the list above) or a typed error.
    expect(Object.keys(exported)).toHaveLength(51);
  });

  it('uses one symbol as both the TaskStore interface name and its injection token', () => {
    expect(typeof library.TaskStore).toBe('symbol');
  });
});
