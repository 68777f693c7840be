import 'reflect-metadata';
import type { MessageEvent } from '@nestjs/common';
import { SseStream } from '@nestjs/core/router/sse-stream.js';
import { TaskEvent } from './task-event';

/** What Nest's own serializer writes for a message (no auto id: ours are explicit). */
function nestBytes(message: MessageEvent): Promise<string> {
  const stream = new SseStream();
  let out = '';
  stream.on('data', (chunk: Buffer | string) => (out += chunk.toString()));
  return new Promise((resolve, reject) => {
    stream.writeMessage(message, (err?: Error | null) => (err ? reject(err) : resolve(out)));
  });
}

describe('TaskEvent', () => {
  it('builds the exact SSE frame: event, id, data, blank line', () => {
    const event = new TaskEvent(42, 'progress', '{"pct":50}');
    expect(event.frame).toBe('event: progress\nid: 42\ndata: {"pct":50}\n\n');
    expect(new TaskEvent(1, 'end', '{"status":"completed"}').frame).toBe(
      'event: end\nid: 1\ndata: {"status":"completed"}\n\n',
    );
  });

  it('is its own Nest MessageEvent with an explicit id string', () => {
    const event = new TaskEvent(7, 'custom.name', '"x"');
    expect(event).toMatchObject({ id: '7', seq: 7, type: 'custom.name', data: '"x"' });
    expect(typeof event.id).toBe('string');
  });

  it.each([
    ['progress', '{"pct":50,"note":"caf\u00e9 \u20ac"}'],
    ['end', '{"status":"failed","error":"Task failed"}'],
    ['stage:two', 'null'],
    ['x', '"line1\\nline2"'],
  ])('writes byte for byte what Nest writes for it (%s)', async (type, data) => {
    const event = new TaskEvent(123, type, data);
    expect(await nestBytes(event)).toBe(event.frame);
  });

  it('counts its size as UTF-8 bytes of the data plus the event name', () => {
    expect(new TaskEvent(1, 'progress', '"abc"').size).toBe(5 + 8);
    expect(new TaskEvent(1, 'p', '"\u20ac"').size).toBe(5 + 1);
    expect(new TaskEvent(1, 'p', '"\u{1F600}"').size).toBe(6 + 1);
  });

  it('builds the same frame every time it is asked', () => {
    const event = new TaskEvent(3, 'progress', '1');
    expect(event.frame).toBe(event.frame);
    expect(event.size).toBe(event.size);
  });
});
