import { InvalidResumePointError } from './errors';
import {
  EventBatch,
  framesOf,
  gapData,
  gapFrame,
  gapMessage,
  HEARTBEAT_FRAME,
  HEARTBEAT_MESSAGE,
  openFrame,
  openMessage,
  parseResumePoint,
} from './sse-stream';
import { TaskEvent } from './task-event';

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

describe('frames', () => {
  it('opens a stream with the resume point as id and the reconnect delay', () => {
    expect(openFrame(0, 2000)).toBe('id: 0\nretry: 2000\n\n');
    expect(openFrame(17, 500)).toBe('id: 17\nretry: 500\n\n');
    expect(openMessage(17, 500)).toEqual({ id: '17', retry: 500 });
  });

  it('writes a gap with the id of its last missing event and {from,to} data', () => {
    expect(gapData(3, 9)).toBe('{"from":3,"to":9}');
    expect(gapFrame(3, 9)).toBe('event: gap\nid: 9\ndata: {"from":3,"to":9}\n\n');
    expect(gapMessage(3, 9)).toEqual({ type: 'gap', id: '9', data: '{"from":3,"to":9}' });
  });

  it('writes heartbeats as comments without an id', () => {
    expect(HEARTBEAT_FRAME).toBe(': ping\n\n');
    expect(HEARTBEAT_MESSAGE).toEqual({ comment: 'ping' });
    expect(Object.isFrozen(HEARTBEAT_MESSAGE)).toBe(true);
  });

  it('joins the frames of consecutive events, optionally from an index', () => {
    const events = [
      new TaskEvent(1, 'progress', '1'),
      new TaskEvent(2, 'progress', '2'),
      new TaskEvent(3, 'end', '{}'),
    ];
    const all =
      'event: progress\nid: 1\ndata: 1\n\nevent: progress\nid: 2\ndata: 2\n\nevent: end\nid: 3\ndata: {}\n\n';
    expect(framesOf(events)).toBe(all);
    expect(framesOf(events, 2)).toBe('event: end\nid: 3\ndata: {}\n\n');
    expect(framesOf(events, 3)).toBe('');
    expect(framesOf([])).toBe('');
  });
});

describe('EventBatch', () => {
  const events = [new TaskEvent(4, 'progress', '"\u20ac"'), new TaskEvent(5, 'custom', '{"a":1}')];

  it('knows its first and last id', () => {
    const batch = new EventBatch(events);
    expect(batch.firstId).toBe(4);
    expect(batch.lastId).toBe(5);
    expect(batch.events).toBe(events);
  });

  it('encodes its frames once, as exact UTF-8 bytes', () => {
    const batch = new EventBatch(events);
    const expected = Buffer.from(
      'event: progress\nid: 4\ndata: "\u20ac"\n\nevent: custom\nid: 5\ndata: {"a":1}\n\n',
      'utf8',
    );
    expect(batch.buffer.equals(expected)).toBe(true);
    expect(batch.buffer).toBe(batch.buffer);
  });
});
