import {
  httpChunk,
  EventBatch,
  framesOf,
  gapData,
  gapFrame,
  gapMessage,
  HEARTBEAT_FRAME,
  HEARTBEAT_MESSAGE,
  openFrame,
  openMessage,
} from './sse-frames';
import { TaskEvent } from '../task-event';

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

  it('is also one HTTP/1.1 chunk (hex size, CRLF, the frames, CRLF), built once', () => {
    const batch = new EventBatch(events);
    const size = batch.buffer.length;
    expect(batch.chunk.toString('latin1')).toBe(
      `${size.toString(16)}\r\n${batch.buffer.toString('latin1')}\r\n`,
    );
    expect(batch.chunk).toBe(batch.chunk);
    expect(httpChunk(Buffer.alloc(0)).toString()).toBe('0\r\n\r\n');
  });

  it('encodes exactly even when an event carries a wrong size (measured then)', () => {
    const text = (seq: number, data: string) => `event: p\nid: ${seq}\ndata: ${data}\n\n`;
    for (const [size, data] of [
      [3, '"\u20ac\u20ac"'], // 8 bytes + 1: the text is longer than its sizes say
      [40, '"x"'], // shorter
    ] as const) {
      const batch = new EventBatch([new TaskEvent(9, 'p', data, size), new TaskEvent(10, 'p', '1')]);
      expect(batch.buffer.toString('utf8')).toBe(text(9, data) + text(10, '1'));
    }
    const ids = [9, 10, 99, 100, 999_999, 1_000_000].map((seq) => new TaskEvent(seq, 'p', '"\u{1F600}"'));
    expect(new EventBatch(ids).buffer.equals(Buffer.from(framesOf(ids), 'utf8'))).toBe(true);
  });
});
