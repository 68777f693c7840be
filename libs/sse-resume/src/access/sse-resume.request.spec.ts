import { InvalidResumePointError } from '../errors';
import {
  findTaskId,
  parseResumePoint,
  readLastEventId,
  readResumeKey,
  readTaskId,
} from './sse-resume.request';

describe('readResumeKey', () => {
  it('reads the query parameter first, then the x-resume-key header', () => {
    expect(readResumeKey({ query: { key: 'q' }, headers: { 'x-resume-key': 'h' } }, 'key')).toBe('q');
    expect(readResumeKey({ query: {}, headers: { 'x-resume-key': 'h' } }, 'key')).toBe('h');
    expect(readResumeKey({ headers: { 'x-resume-key': 'h' } }, 'key')).toBe('h');
    expect(readResumeKey({ query: { token: 't' }, headers: {} }, 'token')).toBe('t');
    expect(readResumeKey({ query: { key: 'q' }, headers: {} }, 'token')).toBeUndefined();
  });

  it('treats an empty query value as absent, so it cannot hide the header (issue 10)', () => {
    expect(readResumeKey({ query: { key: '' }, headers: { 'x-resume-key': 'h' } }, 'key')).toBe('h');
    expect(readResumeKey({ query: { key: '' }, headers: {} }, 'key')).toBeUndefined();
  });

  it('ignores repeated values instead of picking one', () => {
    expect(readResumeKey({ query: { key: ['a', 'b'] }, headers: {} }, 'key')).toBeUndefined();
    expect(readResumeKey({ query: { key: ['a', 'b'] }, headers: { 'x-resume-key': 'h' } }, 'key')).toBe('h');
    expect(readResumeKey({ headers: { 'x-resume-key': ['a', 'b'] } }, 'key')).toBeUndefined();
  });
});

describe('readResumeKey: the cookie of the task', () => {
  const cookie = 'a=1; sse-resume-t1=c1; sse-resume-t2=c2';

  it('is the third source, read only for the given task id', () => {
    expect(readResumeKey({ headers: { cookie } }, 'key', 't1')).toBe('c1');
    expect(readResumeKey({ headers: { cookie } }, 'key', 't2')).toBe('c2');
    expect(readResumeKey({ headers: { cookie } }, 'key', 't3')).toBeUndefined();
    expect(readResumeKey({ headers: { cookie } }, 'key')).toBeUndefined();
  });

  it('comes after a non-empty query value and the header', () => {
    expect(
      readResumeKey({ query: { key: 'q' }, headers: { cookie, 'x-resume-key': 'h' } }, 'key', 't1'),
    ).toBe('q');
    expect(readResumeKey({ query: { key: '' }, headers: { cookie, 'x-resume-key': 'h' } }, 'key', 't1')).toBe(
      'h',
    );
    expect(readResumeKey({ query: { key: '' }, headers: { cookie } }, 'key', 't1')).toBe('c1');
    expect(readResumeKey({ query: { key: ['a', 'b'] }, headers: { cookie } }, 'key', 't1')).toBe('c1');
    expect(readResumeKey({ headers: { cookie, 'x-resume-key': ['a', 'b'] } }, 'key', 't1')).toBe('c1');
  });
});

describe('findTaskId', () => {
  it('is readTaskId without the error: undefined when the route has no such parameter', () => {
    expect(findTaskId({ params: { taskId: 'a', id: 'b' }, headers: {} }, {})).toBe('a');
    expect(findTaskId({ params: { id: 'b' }, headers: {} }, {})).toBe('b');
    expect(findTaskId({ params: { id: 'b' }, headers: {} }, { taskIdParam: 'job' })).toBeUndefined();
    expect(findTaskId({ headers: {} }, {})).toBeUndefined();
  });
});

describe('readLastEventId', () => {
  it('reads the header first, then the query', () => {
    expect(readLastEventId({ headers: { 'last-event-id': '4' }, query: { lastEventId: '9' } })).toBe(4);
    expect(readLastEventId({ headers: {}, query: { lastEventId: '9' } })).toBe(9);
    expect(readLastEventId({ headers: {} })).toBeUndefined();
    expect(() => readLastEventId({ headers: { 'last-event-id': 'x' } })).toThrow(InvalidResumePointError);
  });
});

describe('readTaskId', () => {
  it('reads taskId, else id, else the named parameter', () => {
    expect(readTaskId({ params: { taskId: 'a', id: 'b' }, headers: {} }, {}, '@X()')).toBe('a');
    expect(readTaskId({ params: { id: 'b' }, headers: {} }, {}, '@X()')).toBe('b');
    expect(
      readTaskId({ params: { job: 'c', taskId: 'a' }, headers: {} }, { taskIdParam: 'job' }, '@X()'),
    ).toBe('c');
  });

  it('names the decorator and the parameter when the route has none', () => {
    expect(() => readTaskId({ params: {}, headers: {} }, {}, '@SseResume()')).toThrow(
      '@SseResume(): the route has no parameter taskId or id; set taskIdParam to the one holding the task id',
    );
  });
});

describe('parseResumePoint', () => {
  it('is undefined when neither header nor query gives one', () => {
    expect(parseResumePoint(undefined, undefined)).toBeUndefined();
    expect(parseResumePoint(undefined)).toBeUndefined();
    expect(parseResumePoint('', '')).toBeUndefined();
  });

  it.each([
    ['0', 0],
    ['42', 42],
    ['007', 7],
    ['9007199254740991', Number.MAX_SAFE_INTEGER],
  ])('accepts %p', (text, expected) => {
    expect(parseResumePoint(text)).toBe(expected);
    expect(parseResumePoint(undefined, text)).toBe(expected);
  });

  it('prefers the Last-Event-ID header to the lastEventId query parameter', () => {
    expect(parseResumePoint('5', '9')).toBe(5);
    expect(parseResumePoint('', '9')).toBe(9);
    // The header decides even when the query is malformed, and the other way round.
    expect(parseResumePoint('5', 'abc')).toBe(5);
    expect(() => parseResumePoint('abc', '9')).toThrow(InvalidResumePointError);
  });

  it.each([
    ['abc'],
    ['-1'],
    ['1.5'],
    ['1e3'],
    ['1e9999'],
    [' 1'],
    ['1 '],
    ['+1'],
    ['0x10'],
    ['Infinity'],
    ['NaN'],
    ['1-0'],
    ['5'.repeat(5000)],
    ['12345678901234567'],
    ['9007199254740992'],
  ])('rejects %p with InvalidResumePointError (400)', (text) => {
    for (const call of [() => parseResumePoint(text), () => parseResumePoint(undefined, text)]) {
      let thrown: unknown;
      try {
        call();
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(InvalidResumePointError);
      expect((thrown as InvalidResumePointError).getStatus()).toBe(400);
    }
  });

  it('names where the bad value came from', () => {
    expect(() => parseResumePoint('x')).toThrow('Last-Event-ID must be a non-negative integer event id');
    expect(() => parseResumePoint(undefined, 'x')).toThrow(
      'lastEventId must be a non-negative integer event id',
    );
    expect(() => parseResumePoint('9007199254740992')).toThrow('Last-Event-ID is too large');
  });

  it.each([[['1', '2']], [['1']], [{ a: '1' }], [7], [null], [true]])(
    'rejects a non-string value %p (repeated header or query parameter)',
    (value) => {
      expect(() => parseResumePoint(value)).toThrow('Last-Event-ID must be given once');
      expect(() => parseResumePoint(undefined, value)).toThrow('lastEventId must be given once');
    },
  );
});
