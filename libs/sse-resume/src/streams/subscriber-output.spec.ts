import type { MessageEvent } from '@nestjs/common';
import { Observable, type Subscriber } from 'rxjs';
import type { FrameSink } from '../interfaces/frame-sink.interface';
import { collect, type Collected } from '../testing/async';
import { describeFrame, describeMessages, parseFrames } from '../testing/sse';
import { TaskEvent } from '../task-event';
import { MessageOutput } from './message-output';
import { SinkOutput } from './sink-output';
import { EventBatch } from './sse-frames';
import type { OutputOwner, SubscriberOutput } from './subscriber-output';

/** An output under test, and what reached the client through it (as short frame texts). */
interface Harness {
  output: SubscriberOutput;
  owner: OutputOwner & { closed: boolean };
  collected: Collected<MessageEvent>;
  sent(): string[];
}

function subscribed(make: (rx: Subscriber<MessageEvent>, owner: Harness['owner']) => SubscriberOutput) {
  const owner = { closed: false, end: jest.fn() };
  let output!: SubscriberOutput;
  const collected = collect(new Observable<MessageEvent>((rx) => void (output = make(rx, owner))));
  return { output, owner, collected };
}

function toSink(): Harness {
  const writes: (string | Buffer)[] = [];
  const sink: FrameSink = {
    closed: false,
    write: (chunk) => writes.push(chunk) > 0,
    whenWritable: () => Promise.resolve(),
    flushed: () => Promise.resolve(),
  };
  const parts = subscribed((rx, owner) => new SinkOutput(sink, rx, 1_000, owner));
  return {
    ...parts,
    sent: () => parseFrames(writes.join('')).frames.map(describeFrame),
  };
}

function toNest(): Harness {
  const parts = subscribed((rx, owner) => new MessageOutput(rx, owner));
  return { ...parts, sent: () => describeMessages(parts.collected.values) };
}

const events = [1, 2, 3].map((seq) => new TaskEvent(seq, 'progress', JSON.stringify(seq)));

describe.each([
  ['SinkOutput', toSink],
  ['MessageOutput', toNest],
])('%s, as every SubscriberOutput', (_name, make) => {
  it('sends the same frames for a batch (from an index), a replay and a gap', async () => {
    const { output, sent } = make();
    output.batch(new EventBatch(events), 1);
    await output.replayEvents(events.slice(0, 1));
    output.gap(4, 9);
    expect(sent()).toEqual(['progress:2:2', 'progress:3:3', 'progress:1:1', 'gap:9:{"from":4,"to":9}']);
  });

  it('sends a heartbeat only when nothing went out since the previous tick', () => {
    const { output, sent } = make();
    output.gap(1, 2);
    output.heartbeat(); // the gap went out since
    expect(sent()).toEqual(['gap:2:{"from":1,"to":2}']);
    output.heartbeat();
    expect(sent()).toEqual(['gap:2:{"from":1,"to":2}', 'ping']);
  });

  it('completes the Observable', async () => {
    const { output, collected } = make();
    output.complete();
    await collected.done;
    expect(collected.completed).toBe(true);
  });
});
