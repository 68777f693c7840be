import type { MessageEvent } from '@nestjs/common';
import { Observable } from 'rxjs';
import { collect, nextTurn } from '../testing/async';
import { TaskEvent } from '../task-event';
import { MessageOutput } from './message-output';
import { EventBatch, HEARTBEAT_MESSAGE } from './sse-frames';

describe('MessageOutput', () => {
  const events = [1, 2, 3].map((seq) => new TaskEvent(seq, 'progress', JSON.stringify(seq)));

  function open() {
    const owner = { closed: false, end: jest.fn() };
    let output!: MessageOutput;
    const collected = collect(
      new Observable<MessageEvent>((rx) => void (output = new MessageOutput(rx, owner))),
    );
    return { output, owner, collected };
  }

  it('asks for history as events, and refuses text', () => {
    const { output } = open();
    expect(output.writesText).toBe(false);
    expect(() => output.replayText()).toThrow('history is read as events');
  });

  it('passes the stored events themselves to Nest, not copies', async () => {
    const { output, collected } = open();
    output.batch(new EventBatch(events), 0);
    await output.replayEvents(events.slice(0, 1));
    expect(collected.values).toHaveLength(4);
    expect(collected.values[0]).toBe(events[0]);
    expect(collected.values[3]).toBe(events[0]);
  });

  it('stops a batch when the subscription closes while Nest takes a message', () => {
    const owner = { closed: false, end: jest.fn() };
    const values: MessageEvent[] = [];
    new Observable<MessageEvent>((rx) => {
      const output = new MessageOutput(rx, owner);
      output.batch(new EventBatch(events), 0);
    }).subscribe((message) => {
      values.push(message);
      owner.closed = true; // e.g. the client went away
    });
    expect(values).toEqual([events[0]]);
  });

  it('stops a replay when the subscription closes while Nest takes a message', async () => {
    const owner = { closed: false, end: jest.fn() };
    const values: MessageEvent[] = [];
    let replay!: Promise<void>;
    new Observable<MessageEvent>((rx) => {
      replay = new MessageOutput(rx, owner).replayEvents(events);
    }).subscribe((message) => {
      values.push(message);
      owner.closed = true;
    });
    await replay;
    expect(values).toEqual([events[0]]);
  });

  it('counts the open message Nest wrote as output', () => {
    const { output, collected } = open();
    output.opened();
    output.heartbeat();
    expect(collected.values).toEqual([]);
    output.heartbeat();
    output.heartbeat(); // a heartbeat message is not counted: one per idle tick
    expect(collected.values).toEqual([HEARTBEAT_MESSAGE, HEARTBEAT_MESSAGE]);
  });

  it('pauses for one turn of the event loop', async () => {
    const { output } = open();
    let paused = false;
    void output.pause().then(() => (paused = true));
    await Promise.resolve();
    expect(paused).toBe(false);
    await nextTurn();
    expect(paused).toBe(true);
  });
});
