import { performance } from 'node:perf_hooks';
import { createTask, getInfo, openStream, readStream, waitForInfo } from '../utils/api';
import type { RawHttpConnection } from '@app/sse-resume/testing/raw-http';
import { dataOf, eventFrames, idOf, parseFrames } from '@app/sse-resume/testing/sse';
import { ADAPTERS, type Adapter, type RunningApp, startApp } from '../utils/start-app';

/** A low bound, so that a stalled client is cut off after ~4-5 MB (kernel buffers + this). */
const MAX_PENDING_BYTES = 256 * 1024;
/**
 * 430 events of ~16.5 KB: ~7 MB in all, enough to stall a client that stops reading (the
 * loopback kernel buffers take ~4.5 MB), yet below the default historyBytes (8 MiB), so a
 * client cut off for being slow resumes from history without a gap.
 */
const STEPS = 430;
const PAYLOAD_BYTES = 16 * 1024;
const ALL_IDS = Array.from({ length: STEPS + 1 }, (_, i) => i + 1);

/** Epoch ms at which the connection received its `end` frame. */
function endArrival(connection: RawHttpConnection): number {
  let tail = '';
  for (const chunk of connection.chunks) {
    const text = tail + chunk.bytes.toString('latin1');
    if (text.includes('event: end\n')) return performance.timeOrigin + chunk.at;
    tail = text.slice(-16);
  }
  throw new Error('no end frame');
}

/**
 * Guarantee 2: a subscriber that stops reading is disconnected once its unsent output passes
 * maxPendingBytes, the others keep up, and the slow one resumes later from history; one that
 * stalls in the middle of its replay holds no growing memory (live events past the bound are
 * re-read from history) and, once it reads again, gets every event exactly once.
 */
describe.each(ADAPTERS)('slow consumers (%s, MAX_PENDING_BYTES=256 KiB)', (adapter: Adapter) => {
  let server: RunningApp;

  beforeAll(async () => {
    server = await startApp(adapter, { MAX_PENDING_BYTES: String(MAX_PENDING_BYTES) });
  });
  afterAll(() => server.close());

  it('a stalled subscriber is cut off, readers of the same task keep their pace, the stalled one resumes without loss', async () => {
    const task = await createTask(server.baseUrl, {
      steps: STEPS,
      intervalMs: 2,
      payloadBytes: PAYLOAD_BYTES,
    });
    const slow = openStream(server.baseUrl, task.streamUrl);
    slow.socket.pause(); // reads nothing from the start: the kernel buffers fill, then the server's
    const readers = [0, 1].map(() => openStream(server.baseUrl, task.streamUrl));
    await waitForInfo(server.baseUrl, task, (info) => info.json.subscribers === 3, 'three subscribers');

    // The server lets the stalled one go while the task still runs, and keeps the readers.
    const dropped = await waitForInfo(
      server.baseUrl,
      task,
      (info) => info.json.subscribers === 2 || info.json.status !== 'running',
      'the stalled subscriber to be disconnected',
    );
    expect(dropped.json).toMatchObject({ status: 'running', subscribers: 2 });
    const droppedAt = dropped.json.lastEventId;

    // The readers get everything, and the end as soon as the server stored it.
    const responses = await Promise.all(readers.map((reader) => reader.done));
    for (const response of responses) {
      expect(eventFrames(parseFrames(response.text).frames).map(idOf)).toEqual(ALL_IDS);
    }
    const info = await getInfo(server.baseUrl, task.taskId, task.resumeKey);
    const endStoredAt = Date.parse(info.json.updatedAt);
    const lags = readers.map((reader) => Math.round(endArrival(reader) - endStoredAt));
    expect(Math.max(...lags)).toBeLessThan(1_000);

    // The stalled client reads again: what the kernel held, then the connection ends, without `end`.
    slow.socket.resume();
    const cut = await slow.done;
    expect(cut.status).toBe(200);
    expect(cut.endedBy).not.toBe('complete');
    const before = eventFrames(parseFrames(cut.text).frames);
    expect(before.map(idOf)).toEqual(ALL_IDS.slice(0, before.length));
    expect(before.length).toBeLessThan(STEPS);
    // It resumes from history: the rest, no gap, no repeat.
    const resumed = await readStream(server.baseUrl, task.streamUrl, {
      'Last-Event-ID': String(before.length),
    });
    const after = eventFrames(parseFrames(resumed.text).frames);
    expect([...before, ...after].map(idOf)).toEqual(ALL_IDS);
    expect(dataOf(after.at(-1)!)).toEqual({ status: 'completed', result: { steps: STEPS } });
    console.log(
      `${adapter}: stalled subscriber cut off at event ${droppedAt} of ${STEPS} (~${((droppedAt * PAYLOAD_BYTES) / 1e6).toFixed(1)} MB), ` +
        `had received ${before.length}; readers' end lag ${lags.join('/')} ms`,
    );
  });

  it('a subscriber that stalls mid-replay while live events pass the bound gets every event once when it reads again', async () => {
    const task = await createTask(server.baseUrl, {
      steps: STEPS,
      intervalMs: 2,
      payloadBytes: PAYLOAD_BYTES,
    });
    // Join once ~5 MB of history exist, read nothing: the replay fills the kernel buffers and waits.
    await waitForInfo(server.baseUrl, task, (info) => info.json.lastEventId >= 300, '5 MB of history');
    const stalled = openStream(server.baseUrl, task.streamUrl);
    stalled.socket.pause();
    await waitForInfo(server.baseUrl, task, (info) => info.json.subscribers === 1, 'the subscriber to join');
    // Meanwhile the rest of the task (~2 MB, far past maxPendingBytes) goes live and ends.
    await waitForInfo(server.baseUrl, task, (info) => info.json.status === 'completed', 'the task to end');
    const info = await getInfo(server.baseUrl, task.taskId, task.resumeKey);
    expect(info.json.subscribers).toBe(1); // neither dropped nor finished: it waits for its client
    stalled.socket.resume();
    const response = await stalled.done;
    expect(response.endedBy).toBe('complete');
    const events = eventFrames(parseFrames(response.text).frames);
    expect(events.map(idOf)).toEqual(ALL_IDS);
    expect(events.filter((frame) => frame.event === 'gap')).toEqual([]);
  });
});
