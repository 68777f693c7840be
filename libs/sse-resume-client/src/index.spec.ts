import * as client from './index.js';
import type {
  AnyTaskEvents,
  ReconnectInfo,
  ReconnectOptions,
  ReservedEventName,
  ResumeStorage,
  SseEvent,
  SseParserHandlers,
  SseParserOptions,
  SseResumeClientOptions,
  StartedTask,
  StreamOptions,
  TaskDataEvent,
  TaskEndEvent,
  TaskGapEvent,
  TaskHandlers,
  TaskRoutes,
  TaskStreamEvent,
  TaskSubscription,
  TerminalStatus,
} from './index.js';

describe('public API (sse-resume-client)', () => {
  it('exports these values, and nothing else', () => {
    expect(Object.keys(client).sort()).toEqual(
      [
        'SseResumeClient',
        'TaskStream',
        'defaultStorage',
        'memoryStorage',
        'ProtocolError',
        'RetriesExhaustedError',
        'SseClientError',
        'TaskBadRequestError',
        'TaskExpiredError',
        'TaskForbiddenError',
        'TaskHttpError',
        'TaskNotFoundError',
        'SseParser',
      ].sort(),
    );
    for (const value of Object.values(client)) expect(typeof value).toBe('function');
  });

  it('keeps internals and the RxJS adapter (its own entry, rxjs being optional) out', () => {
    for (const name of [
      'taskEvents$',
      'TaskRecord',
      'httpError',
      'describe',
      'resolveReconnect',
      'reconnectDelay',
      'parseRetryAfter',
    ]) {
      expect(client).not.toHaveProperty(name);
    }
  });

  it('exports these types', () => {
    type Exported = [
      AnyTaskEvents,
      ReconnectInfo,
      ReconnectOptions,
      ReservedEventName,
      ResumeStorage,
      SseEvent,
      SseParserHandlers,
      SseParserOptions,
      SseResumeClientOptions,
      StartedTask,
      StreamOptions,
      TaskDataEvent,
      TaskEndEvent,
      TaskGapEvent,
      TaskHandlers<AnyTaskEvents, unknown>,
      TaskRoutes,
      TaskStreamEvent,
      TaskSubscription<unknown>,
      TerminalStatus,
    ];
    const count: Exported['length'] = 19;
    expect(count).toBe(19);
  });
});
