import type { LoggerService } from '@nestjs/common';
import { InvalidEventError, SseResumeError, TaskError, TaskNotFoundError } from '../errors';
import { checkMetadata, GENERIC_FAILURE, publicMessage, TaskSerializer } from './task-serializer';

describe('TaskSerializer', () => {
  const logger = { error: jest.fn(), log: jest.fn(), warn: jest.fn() } as unknown as LoggerService;
  const serializer = new TaskSerializer(100, logger);

  it('serializes event data once, as JSON, undefined as null', () => {
    expect(serializer.event({ a: 1 }, undefined)).toBe('{"a":1}');
    expect(serializer.event(undefined, 'custom')).toBe('null');
    expect(serializer.event(() => 1, undefined)).toBe('null');
  });

  it('refuses reserved or malformed event names, unserializable and oversized data', () => {
    expect(() => serializer.event(1, 'end')).toThrow('the event name "end" is reserved');
    expect(() => serializer.event(1, 'has space')).toThrow(InvalidEventError);
    expect(() => serializer.event(10n, undefined)).toThrow(/not JSON-serializable/);
    expect(() => serializer.event('x'.repeat(99), undefined)).toThrow(
      /101 bytes, more than maxEventBytes \(100\)/,
    );
  });

  it('builds the end event of an outcome, and fails one whose result cannot be serialized', () => {
    expect(serializer.termination({ status: 'completed', result: { n: 1 } }, 't1')).toEqual({
      status: 'completed',
      data: '{"status":"completed","result":{"n":1}}',
      error: undefined,
    });
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(serializer.termination({ status: 'completed', result: circular }, 't1')).toEqual({
      status: 'failed',
      data: '{"status":"failed","error":"Task result is not JSON-serializable"}',
      error: 'Task result is not JSON-serializable',
    });
    expect(logger.error).toHaveBeenCalledTimes(1);
    expect(logger.error).toHaveBeenCalledWith(expect.objectContaining({ taskId: 't1' }));
  });
});

describe('checkMetadata', () => {
  it('copies an object of strings and refuses anything else', () => {
    const given = { userId: 'u1' };
    expect(checkMetadata(given)).toEqual(given);
    expect(checkMetadata(given)).not.toBe(given);
    expect(checkMetadata(undefined)).toBeUndefined();
    expect(() => checkMetadata({ n: 1 })).toThrow(TypeError);
    expect(() => checkMetadata(['a'])).toThrow(TypeError);
    expect(() => checkMetadata({ big: 'x'.repeat(5_000) })).toThrow(RangeError);
  });
});

describe('publicMessage', () => {
  it('shows TaskError and library messages, hides the rest', () => {
    expect(publicMessage(new TaskError('quota exceeded'))).toBe('quota exceeded');
    const libraryError: SseResumeError = new TaskNotFoundError('t');
    expect(publicMessage(libraryError)).toBe('task t not found');
    expect(publicMessage(new Error('password=hunter2'))).toBe(GENERIC_FAILURE);
    expect(publicMessage('thrown string')).toBe(GENERIC_FAILURE);
  });
});
