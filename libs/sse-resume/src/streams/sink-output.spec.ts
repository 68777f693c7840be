import type { MessageEvent } from '@nestjs/common';
import { Observable } from 'rxjs';
import type { FrameSink } from '../interfaces/frame-sink.interface';
import { collect, deferred, type Deferred, turns } from '../testing/async';
import { TaskEvent } from '../task-event';
import { SinkOutput } from './sink-output';
import { EventBatch, framesOf, HEARTBEAT_FRAME, openFrame } from './sse-frames';

/** A FrameSink whose readiness, flushing and refusal the test controls. */
class FakeSink implements FrameSink {
  readonly writes: (string | Buffer)[] = [];
  closed = false;
  writable: Deferred<void> | undefined;
  readonly flush = deferred();

  write(chunk: string | Buffer): boolean {
    if (this.closed) return false;
    this.writes.push(chunk);
    return true;
  }

  whenWritable(): Promise<void> {
    return this.writable?.promise ?? Promise.resolve();
  }

  flushed(): Promise<void> {
    return this.flush.promise;
  }
}

describe('SinkOutput', () => {
  const events = [1, 2, 3, 4].map((seq) => new TaskEvent(seq, 'progress', JSON.stringify('x'.repeat(20))));

  function open(replayWriteChars = 1_000) {
    const sink = new FakeSink();
    const owner = { closed: false, end: jest.fn() };
    let output!: SinkOutput;
    const collected = collect(
      new Observable<MessageEvent>((rx) => void (output = new SinkOutput(sink, rx, replayWriteChars, owner))),
    );
    return { sink, owner, output, collected };
  }

  it('writes the open frame in place of the open message, and asks for history as text', () => {
    const { sink, output } = open();
    expect(output.writesText).toBe(true);
    output.opened(7, 1_500);
    output.replayText('event: progress\nid: 8\ndata: 1\n\n');
    expect(sink.writes).toEqual([openFrame(7, 1_500), 'event: progress\nid: 8\ndata: 1\n\n']);
  });

  it('writes a whole live batch as the buffer every subscriber shares, a partial one as text', () => {
    const { sink, output } = open();
    const batch = new EventBatch(events);
    output.batch(batch, 0);
    output.batch(batch, 2);
    expect(sink.writes[0]).toBe(batch.buffer);
    expect(sink.writes[1]).toBe(framesOf(events, 2));
  });

  it('gives a whole live batch with its ready HTTP chunk to a sink that can write it straight', () => {
    const { sink, output, owner } = open();
    const framed: [Buffer, Buffer][] = [];
    let accept = true;
    Object.assign(sink, {
      writeFramed: (frames: Buffer, chunk: Buffer) => {
        framed.push([frames, chunk]);
        return accept;
      },
    });
    const batch = new EventBatch(events);
    output.batch(batch, 0);
    output.heartbeat(); // a batch counts as output: no heartbeat this tick
    output.batch(batch, 2); // partial: as text
    expect(framed).toEqual([[batch.buffer, batch.chunk]]);
    expect(sink.writes).toEqual([framesOf(events, 2)]);
    accept = false;
    output.batch(batch, 0);
    expect(owner.end).toHaveBeenCalled();
  });

  it('replays in writes of at least replayWriteChars, each waiting for the sink', async () => {
    const frame = events[0]!.frame.length;
    const { sink, output } = open(frame * 2);
    sink.writable = deferred();
    const replay = output.replayEvents(events);
    await turns(2);
    expect(sink.writes).toEqual([framesOf(events.slice(0, 2))]);
    sink.writable.resolve();
    await replay;
    expect(sink.writes).toEqual([framesOf(events.slice(0, 2)), framesOf(events.slice(2))]);
  });

  it('stops a replay when the subscription closes while it waits for the sink', async () => {
    const { sink, owner, output } = open(1);
    sink.writable = deferred();
    const replay = output.replayEvents(events);
    await turns(2);
    owner.closed = true; // e.g. the client went away
    sink.writable.resolve();
    await replay;
    expect(sink.writes).toEqual([events[0]!.frame]);
  });

  it('ends the subscription when the sink refuses a write, and stops its replay', async () => {
    const { sink, owner, output } = open(1);
    owner.end.mockImplementation(() => (owner.closed = true));
    sink.closed = true;
    await output.replayEvents(events);
    expect(owner.end).toHaveBeenCalledTimes(1);
    expect(sink.writes).toEqual([]);
  });

  it('counts its own heartbeat frame as output: an idle stream gets one per two ticks', () => {
    const { sink, output } = open();
    output.heartbeat();
    output.heartbeat();
    output.heartbeat();
    expect(sink.writes).toEqual([HEARTBEAT_FRAME, HEARTBEAT_FRAME]);
  });

  it('completes the Observable only once the sink flushed', async () => {
    const { sink, output, collected } = open();
    output.complete();
    await turns(2);
    expect(collected.completed).toBe(false);
    sink.flush.resolve();
    await collected.done;
    expect(collected.completed).toBe(true);
  });

  it('without an Observable (the sink owns the response), ends the response once the sink flushed', async () => {
    const sink = Object.assign(new FakeSink(), { end: jest.fn() });
    const output = new SinkOutput(sink, undefined, 1_000, { closed: false, end: jest.fn() });
    output.complete();
    await turns(2);
    expect(sink.end).not.toHaveBeenCalled();
    sink.flush.resolve();
    await turns(2);
    expect(sink.end).toHaveBeenCalledTimes(1);
  });
});
