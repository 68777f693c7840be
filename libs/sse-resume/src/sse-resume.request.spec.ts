import { InvalidResumePointError } from './errors';
import { readLastEventId, readResumeKey, readTaskId } from './sse-resume.request';

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
