import * as library from './index';

describe('public API (@app/sse-resume)', () => {
  it('exports its classes, functions and tokens under stable names', () => {
    const expected = [
      'SseResumeModule',
      'SSE_RESUME_MODULE_OPTIONS',
      'SSE_RESUME_OPTIONS',
      'SseTaskService',
      'TaskAbortedError',
      'TaskEvictionService',
      'MISSING_SCHEDULE_MODULE',
      'SseResume',
      'LastEventId',
      'ResumeKey',
      'readResumeKey',
      'SseResumeGuard',
      'TaskAccess',
      'TaskAccessGuard',
      'SseResumeExceptionFilter',
      'TaskAccessDeniedError',
      'SseResumeInterceptor',
      'parseResumePoint',
      'HEARTBEAT_FRAME',
      'TaskEvent',
      'resolveOptions',
      'InMemoryTaskStore',
      'generateResumeKey',
      'hashResumeKey',
      'resumeKeyMatches',
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
      'StoreUnavailableError',
      'DEFAULT_TTL_MS',
      'END_EVENT',
      'GAP_EVENT',
      'PROGRESS_EVENT',
      'EVICTION_JOB_NAME',
    ];
    const exported = library as Record<string, unknown>;
    for (const name of expected)
      expect({ name, defined: exported[name] !== undefined }).toEqual({ name, defined: true });
  });

  it('uses one symbol as both the TaskStore interface name and its injection token', () => {
    expect(typeof library.TaskStore).toBe('symbol');
  });
});
