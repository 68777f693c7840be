import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SseClientError } from './errors.js';
import * as client from './index.js';
import { IdleTimeoutError } from './task-stream.js';
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
  TaskInfo,
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
        'IdleTimeoutError',
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

  it('IdleTimeoutError is the class the stream reports, an SseClientError', () => {
    expect(client.IdleTimeoutError).toBe(IdleTimeoutError);
    expect(new client.IdleTimeoutError('silent')).toBeInstanceOf(SseClientError);
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
      TaskInfo,
      TaskRoutes,
      TaskStreamEvent,
      TaskSubscription<unknown>,
      TerminalStatus,
    ];
    const count: Exported['length'] = 20;
    expect(count).toBe(20);
  });

  it('the package exports the core, the RxJS adapter and the browser bundle', () => {
    const manifest = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as {
      exports: Record<string, unknown>;
    };
    expect(manifest.exports).toEqual({
      '.': { types: './dist/index.d.ts', default: './dist/index.js' },
      './rxjs': { types: './dist/rxjs.d.ts', default: './dist/rxjs.js' },
      './browser': './dist/browser/sse-resume-client.js',
      './package.json': './package.json',
    });
  });
});
