import type { Logger } from '@nestjs/common';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { directSocket, ResponseSink } from './response-sink';
import { httpChunk } from './sse-frames';
import { logRecord } from '../log-record';
import { deferred, nextTurn, waitForMs } from '../testing/async';
import { openStream, type RawHttpConnection } from '../testing/raw-http';
import { StalledResponse } from '../testing/stalled-response';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** What Nest does when it commits an @Sse() response: the head, then one "\n". */
function sendHead(res: ServerResponse): void {
  res.writeHead(200, { 'Content-Type': 'text/event-stream' });
  res.flushHeaders();
  res.write('\n');
}

describe('ResponseSink (real HTTP on 127.0.0.1)', () => {
  let server: Server;
  let url: string;
  let handler: Handler;
  let logger: { error: jest.Mock; warn: jest.Mock };
  const clients: RawHttpConnection[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => handler(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  beforeEach(() => {
    logger = { error: jest.fn(), warn: jest.fn() };
  });

  afterEach(() => {
    for (const client of clients.splice(0)) void client.close();
  });

  /** Opens a request; resolves with the client and the sink the server built for it. */
  async function connect(
    setUp: (res: ServerResponse) => ResponseSink,
  ): Promise<{ client: RawHttpConnection; sink: ResponseSink; res: ServerResponse }> {
    const made = deferred<{ sink: ResponseSink; res: ServerResponse }>();
    handler = (_req, res) => made.resolve({ sink: setUp(res), res });
    const clientPromise = openStream(url);
    const { sink, res } = await made.promise;
    const client = await clientPromise;
    clients.push(client);
    return { client, sink, res };
  }

  const sinkFor = (res: ServerResponse, maxPendingBytes = 1024 * 1024, slowConsumerTimeoutMs = 30_000) =>
    new ResponseSink(res, { maxPendingBytes, slowConsumerTimeoutMs }, logger as unknown as Logger, () => ({
      taskId: 't',
      subscriberId: 's',
    }));

  it('writes straight to a response whose head was sent', async () => {
    const { client, sink, res } = await connect((res) => {
      sendHead(res);
      return sinkFor(res);
    });
    expect(sink.write('id: 0\nretry: 2000\n\n')).toBe(true);
    expect(sink.write(Buffer.from('event: progress\nid: 1\ndata: 1\n\n'))).toBe(true);
    await sink.flushed();
    await sink.whenWritable();
    res.end();
    await client.closed;
    expect(client.ended).toBe(true);
    expect(client.text).toBe('\nid: 0\nretry: 2000\n\nevent: progress\nid: 1\ndata: 1\n\n');
    expect(sink.closed).toBe(true);
  });

  it("writes a live batch's ready HTTP chunk straight to the socket, in order with the response's own writes", async () => {
    const { client, sink, res } = await connect((res) => {
      sendHead(res);
      return sinkFor(res);
    });
    const frames = Buffer.from('event: progress\nid: 1\ndata: 1\n\n');
    expect(directSocket(res)).toBe(res.socket);
    expect(sink.write('id: 0\nretry: 2000\n\n')).toBe(true);
    expect(sink.writeFramed(frames, httpChunk(frames))).toBe(true);
    expect(sink.write(':\n\n')).toBe(true);
    expect(sink.writeFramed(frames, httpChunk(frames))).toBe(true);
    res.end();
    await client.closed;
    expect(client.ended).toBe(true);
    expect(client.text).toBe(`\nid: 0\nretry: 2000\n\n${frames.toString()}:\n\n${frames.toString()}`);
  });

  it('writes the frames through the response when it is not chunked (no direct socket)', async () => {
    const frames = Buffer.from('event: progress\nid: 1\ndata: 1\n\n');
    const { client, sink, res } = await connect((res) => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Content-Length': frames.length });
      res.flushHeaders();
      return sinkFor(res);
    });
    expect(directSocket(res)).toBeUndefined();
    expect(sink.writeFramed(frames, httpChunk(frames))).toBe(true);
    res.end();
    await client.closed;
    expect(client.text).toBe(frames.toString());
  });

  it('direct writes back up and drain like the response: a reading client is never dropped, a stalled one is', async () => {
    const reading = await connect((res) => {
      sendHead(res);
      return sinkFor(res, 256 * 1024);
    });
    const frames = Buffer.alloc(64 * 1024, 'y');
    const chunk = httpChunk(frames);
    for (let i = 0; i < 64; i++) {
      expect(reading.sink.writeFramed(frames, chunk)).toBe(true);
      await reading.sink.whenWritable();
    }
    reading.res.end();
    await reading.client.closed;
    expect(reading.client.bytesReceived).toBe(1 + 64 * frames.length);
    expect(logger.warn).not.toHaveBeenCalled();

    const stalled = await connect((res) => {
      sendHead(res);
      return sinkFor(res, 64 * 1024);
    });
    stalled.client.pause();
    let accepted = 0;
    for (let i = 0; i < 1_024 && stalled.sink.writeFramed(frames, chunk); i++) {
      accepted++;
      if (i % 16 === 15) await nextTurn();
    }
    expect(accepted).toBeLessThan(1_024);
    expect(stalled.sink.closed).toBe(true);
    expect(logger.warn).toHaveBeenCalledWith(
      expect.objectContaining({ message: expect.stringContaining('subscriber is not reading') }),
    );
    stalled.client.resume();
    await stalled.client.closed;
  });

  it('holds frames written before the head and sends them right after it, in order', async () => {
    let flushed = false;
    const { client, sink, res } = await connect((res) => {
      // Nest arms its head timer when it subscribes, before the interceptor builds the sink.
      setTimeout(() => sendHead(res), 0);
      const sink = sinkFor(res);
      sink.write('id: 0\nretry: 2000\n\n');
      sink.write(Buffer.from('event: a\nid: 1\ndata: 1\n\n'));
      void sink.flushed().then(() => (flushed = true));
      return sink;
    });
    await sink.flushed();
    expect(flushed).toBe(true);
    sink.write('event: b\nid: 2\ndata: 2\n\n');
    res.end();
    await client.closed;
    expect(client.text).toBe(
      '\nid: 0\nretry: 2000\n\nevent: a\nid: 1\ndata: 1\n\nevent: b\nid: 2\ndata: 2\n\n',
    );
  });

  it('waits several turns for a late head, and only then says it is writable or flushed', async () => {
    const seenHead: Record<string, boolean> = {};
    const { client, sink, res } = await connect((res) => {
      const sink = sinkFor(res);
      sink.write('frame\n\n');
      void sink.whenWritable().then(() => (seenHead.writable = res.headersSent));
      void sink.flushed().then(() => (seenHead.flushed = res.headersSent));
      setTimeout(() => sendHead(res), 20);
      return sink;
    });
    await sink.flushed();
    await waitForMs(() => Object.keys(seenHead).length === 2);
    expect(seenHead).toEqual({ writable: true, flushed: true });
    res.end();
    await client.closed;
    expect(client.text).toBe('\nframe\n\n');
  });

  it('closes the connection, logs and releases its waiters if the head never comes', async () => {
    const made = deferred<ResponseSink>();
    let settled = 0;
    handler = (_req, res) => {
      const sink = sinkFor(res);
      sink.write('never sent\n\n');
      void sink.flushed().then(() => settled++);
      void sink.whenWritable().then(() => settled++);
      made.resolve(sink);
    };
    const response = openStream(url).then(
      () => 'response',
      () => 'socket closed',
    );
    const sink = await made.promise;
    expect(sink.closed).toBe(false);
    await waitForMs(() => sink.closed, 'the sink to give up');
    expect(sink.write('more')).toBe(false);
    await waitForMs(() => settled === 2, 'the waiters');
    expect(await response).toBe('socket closed');
    expect(logger.error).toHaveBeenCalledWith(
      logRecord('the SSE head was never sent; closing the connection', { taskId: 't', subscriberId: 's' }),
    );
  });

  it('disconnects a client that does not read once unsent output passes maxPendingBytes', async () => {
    const { client, sink, res } = await connect((res) => {
      sendHead(res);
      return sinkFor(res, 64 * 1024);
    });
    client.pause();
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let accepted = 0;
    for (let i = 0; i < 1_024 && sink.write(chunk); i++) {
      accepted++;
      if (i % 16 === 15) await nextTurn();
    }
    expect(accepted).toBeLessThan(1_024);
    expect(sink.closed).toBe(true);
    expect(res.destroyed).toBe(true);
    expect(sink.write('late')).toBe(false);
    await sink.whenWritable(); // resolves at once for a closed sink
    expect(logger.warn).toHaveBeenCalledWith(
      expect.objectContaining({
        message: expect.stringContaining('subscriber is not reading'),
        taskId: 't',
        subscriberId: 's',
        pendingBytes: expect.any(Number),
        maxPendingBytes: 64 * 1024,
      }),
    );
    client.resume();
    await client.closed;
    expect(client.ended).toBe(false);
  });

  it('never drops a reading client that waits for whenWritable() between writes', async () => {
    const { client, sink, res } = await connect((res) => {
      sendHead(res);
      return sinkFor(res, 256 * 1024);
    });
    const chunk = Buffer.alloc(64 * 1024, 'y');
    for (let i = 0; i < 128; i++) {
      expect(sink.write(chunk)).toBe(true);
      await sink.whenWritable();
    }
    res.end();
    await client.closed;
    expect(client.ended).toBe(true);
    expect(client.bytesReceived).toBe(1 + 128 * chunk.length);
    expect(logger.warn).not.toHaveBeenCalled();
  });

  it('keeps at most one drain listener of its own, however often the client lags', async () => {
    const { client, sink, res } = await connect((res) => {
      sendHead(res);
      return sinkFor(res, 256 * 1024);
    });
    const before = res.listenerCount('drain');
    const chunk = Buffer.alloc(64 * 1024, 'w');
    for (let i = 0; i < 64; i++) {
      expect(sink.write(chunk)).toBe(true); // 64 KiB > the highWaterMark: every write backs up
      await sink.whenWritable();
    }
    expect(res.listenerCount('drain')).toBeLessThanOrEqual(before + 1);
    res.end();
    await client.closed;
    expect(client.bytesReceived).toBe(1 + 64 * chunk.length);
  });

  it('refuses writes once the client is gone and stops waiting for drain', async () => {
    const { client, sink, res } = await connect((res) => {
      sendHead(res);
      return sinkFor(res, 64 * 1024 * 1024);
    });
    client.pause();
    // Fill the socket so that the response needs a drain, then lose the client.
    const chunk = Buffer.alloc(1024 * 1024, 'z');
    while (!res.writableNeedDrain) sink.write(chunk);
    const writable = sink.whenWritable();
    void client.close();
    await writable;
    await waitForMs(() => sink.closed, 'the sink to notice');
    expect(sink.write('x')).toBe(false);
  });

  describe('owning its response (a route @SseResume() claimed)', () => {
    const ownedSink = (res: ServerResponse, owner: { close: () => void }) =>
      new ResponseSink(
        res,
        { maxPendingBytes: 1024 * 1024, slowConsumerTimeoutMs: 30_000 },
        logger as unknown as Logger,
        { taskId: 't', subscriberId: 's' },
        undefined,
        owner,
      );

    it('holds nothing for a head that is written right after it, and ends the response', async () => {
      const owner = { close: jest.fn() };
      const { client, sink } = await connect((res) => {
        const made = ownedSink(res, owner);
        sendHead(res);
        return made;
      });
      expect(sink.write('id: 0\nretry: 2000\n\n')).toBe(true);
      await sink.flushed();
      sink.end();
      await client.closed;
      expect(client.ended).toBe(true);
      expect(client.text).toBe('\nid: 0\nretry: 2000\n\n');
      expect(owner.close).toHaveBeenCalledTimes(1); // the response closed: nothing else would release it
      sink.end(); // once closed, ending again does nothing
    });

    it('closes its owner when the client goes away', async () => {
      const owner = { close: jest.fn() };
      const { client, sink } = await connect((res) => {
        const made = ownedSink(res, owner);
        sendHead(res);
        return made;
      });
      void client.close();
      await waitForMs(() => owner.close.mock.calls.length === 1, 'the owner to be closed');
      expect(sink.closed).toBe(true);
      expect(sink.write('x')).toBe(false);
    });

    it('names the subscriber from the object it was given when it logs', async () => {
      const made = deferred<ResponseSink>();
      handler = (_req, res) => {
        made.resolve(
          new ResponseSink(
            res,
            { maxPendingBytes: 1024, slowConsumerTimeoutMs: 30_000 },
            logger as unknown as Logger,
            { taskId: 'task-1', subscriberId: 'sub-1' },
          ),
        );
      };
      const response = openStream(url).catch(() => undefined);
      const sink = await made.promise;
      await waitForMs(() => sink.closed, 'the sink to give up on the head');
      await response;
      expect(logger.error).toHaveBeenCalledWith(
        logRecord('the SSE head was never sent; closing the connection', {
          taskId: 'task-1',
          subscriberId: 'sub-1',
        }),
      );
    });
  });
});

describe('ResponseSink: slowConsumerTimeoutMs (fake timers)', () => {
  const TIMEOUT = 30_000;
  let logger: { error: jest.Mock; warn: jest.Mock };

  beforeEach(() => {
    jest.useFakeTimers();
    logger = { error: jest.fn(), warn: jest.fn() };
  });

  afterEach(() => jest.useRealTimers());

  function sinkOn(res: StalledResponse, maxPendingBytes = 1024 * 1024): ResponseSink {
    return new ResponseSink(
      res as unknown as ServerResponse,
      { maxPendingBytes, slowConsumerTimeoutMs: TIMEOUT },
      logger as unknown as Logger,
      () => ({ taskId: 't', subscriberId: 's' }),
    );
  }

  it('disconnects a replay reader whose response has not drained for slowConsumerTimeoutMs, and stops waiting', async () => {
    const res = new StalledResponse(4096);
    const sink = sinkOn(res);
    expect(sink.write('x'.repeat(64 * 1024))).toBe(true);
    let writable = false;
    void sink.whenWritable().then(() => (writable = true));
    jest.advanceTimersByTime(TIMEOUT - 1);
    await Promise.resolve();
    expect(res.destroyed).toBe(false);
    expect(writable).toBe(false);
    jest.advanceTimersByTime(1);
    await Promise.resolve();
    expect(res.destroyed).toBe(true);
    expect(writable).toBe(true);
    expect(sink.closed).toBe(true);
    expect(sink.write('more')).toBe(false);
    expect(logger.warn).toHaveBeenCalledWith(
      logRecord(
        'subscriber has not read (slowConsumerTimeoutMs); disconnecting it, it can resume from history',
        {
          taskId: 't',
          subscriberId: 's',
          pendingBytes: 61440,
          slowConsumerTimeoutMs: 30000,
        },
      ),
    );
  });

  it('keeps a reader whose response drains in time; the timer starts again at the next back-up', () => {
    const res = new StalledResponse(4096);
    const sink = sinkOn(res);
    sink.write('x'.repeat(8192));
    jest.advanceTimersByTime(TIMEOUT - 1_000);
    res.read(8192); // drained
    jest.advanceTimersByTime(TIMEOUT * 2);
    expect(res.destroyed).toBe(false);
    sink.write('y'.repeat(64 * 1024)); // backs up again: a fresh timeout
    jest.advanceTimersByTime(TIMEOUT - 1);
    expect(res.destroyed).toBe(false);
    jest.advanceTimersByTime(1);
    expect(res.destroyed).toBe(true);
  });

  it('heartbeats and other writes to a stalled response are no progress', () => {
    const res = new StalledResponse(4096);
    const sink = sinkOn(res);
    sink.write('x'.repeat(8192));
    for (let t = 0; t < TIMEOUT; t += 1_000) {
      expect(sink.write(': ping\n\n')).toBe(true);
      jest.advanceTimersByTime(1_000);
    }
    expect(res.destroyed).toBe(true);
    expect(logger.warn).toHaveBeenCalledTimes(1);
  });

  it('bounds the wait of whenWritable() on a response backed up by the frames held for the head', async () => {
    const res = new StalledResponse(16);
    res.headersSent = false;
    const sink = sinkOn(res);
    sink.write('x'.repeat(1_000)); // held until the head
    res.headersSent = true;
    jest.advanceTimersByTime(1); // the head went out: the held frames are written, and back it up
    let writable = false;
    void sink.whenWritable().then(() => (writable = true));
    jest.advanceTimersByTime(TIMEOUT);
    await Promise.resolve();
    expect(res.destroyed).toBe(true);
    expect(writable).toBe(true);
  });

  it('lets an ended response finish while its client still takes the rest, then disconnects it if it stops', () => {
    const res = new StalledResponse(4096);
    const sink = sinkOn(res);
    sink.write('x'.repeat(100_000));
    res.end(); // the stream completed; what is left drains without `drain` events
    for (let i = 0; i < 3; i++) {
      jest.advanceTimersByTime(TIMEOUT - 1);
      res.read(10_000);
      jest.advanceTimersByTime(1);
      expect(res.destroyed).toBe(false);
    }
    jest.advanceTimersByTime(TIMEOUT); // no more reading
    expect(res.destroyed).toBe(true);
    expect(sink.closed).toBe(true);
  });

  it('stops the timer when the client goes away', () => {
    const res = new StalledResponse(4096);
    sinkOn(res).write('x'.repeat(8192));
    res.emit('close');
    jest.advanceTimersByTime(TIMEOUT * 2);
    expect(logger.warn).not.toHaveBeenCalled();
    expect(jest.getTimerCount()).toBe(0);
  });
});
