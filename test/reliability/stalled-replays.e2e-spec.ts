import { Logger } from '@nestjs/common';
import { waitForMs } from '@app/sse-resume/testing/async';
import { type Adapter, startTestApp, type TestApp } from '@app/sse-resume/testing/nest-app';
import { TaskStreamController } from '@app/sse-resume/testing/stream-controller';
import { openRaw, rawRequest } from '@app/sse-resume/testing/raw-http';
import { eventFrames, idOf, parseFrames } from '@app/sse-resume/testing/sse';

/** ~10.5 MB of history: more than the loopback kernel buffers of a client that reads nothing take. */
const EVENTS = 640;
const PAYLOAD = 'x'.repeat(16 * 1024);
const STALLED = 3;
const SLOW_CONSUMER_TIMEOUT_MS = 300;

/**
 * Readers that stop reading during a replay are disconnected once their response has not
 * drained for slowConsumerTimeoutMs (heartbeats notwithstanding), freeing their subscriber
 * slots; they resume from history later and get the rest exactly once.
 */
describe.each<Adapter>(['express', 'fastify'])('stalled replay readers (%s)', (adapter) => {
  let testApp: TestApp;
  let task: { taskId: string; resumeKey: string };
  let warnings: string[];

  beforeAll(async () => {
    warnings = [];
    jest.spyOn(Logger.prototype, 'warn').mockImplementation((message: unknown) => {
      warnings.push(String(message));
    });
    testApp = await startTestApp(adapter, [TaskStreamController], {
      slowConsumerTimeoutMs: SLOW_CONSUMER_TIMEOUT_MS,
      heartbeatMs: 50, // heartbeats keep coming to the stalled streams: they must not keep them
      historyBytes: 32 * 1024 * 1024,
      historyBudgetBytes: 256 * 1024 * 1024,
    });
    task = await testApp.tasks.start(async ({ emit }) => {
      for (let i = 1; i <= EVENTS; i++) await emit({ i, payload: PAYLOAD });
      return 'ok';
    });
    await waitForMs(() => testApp.tasks.stats.runningTasks === 0, 'the task to finish', 20_000);
  });

  afterAll(async () => {
    await testApp.close();
    jest.restoreAllMocks();
  });

  it('are disconnected after slowConsumerTimeoutMs, free their slots, and resume from history', async () => {
    const url = `${testApp.url}/tasks/${task.taskId}/events?key=${task.resumeKey}`;
    const stalled = Array.from({ length: STALLED }, () => {
      const connection = openRaw(url, { timeoutMs: 30_000 });
      connection.socket.pause(); // reads nothing: the kernel buffers fill, then the replay waits
      return connection;
    });
    const dropped = () => warnings.filter((warning) => warning.includes('slowConsumerTimeoutMs')).length;
    let most = 0;
    // Without the rule they would hold their slots (and buffers) for as long as they like.
    // (A short timeout may drop the first before the last joins: they need not all be open at once.)
    await waitForMs(
      () => {
        most = Math.max(most, testApp.tasks.stats.openStreams);
        return dropped() === STALLED && testApp.tasks.stats.openStreams === 0;
      },
      'the stalled readers to be dropped',
      20_000,
    );
    expect(most).toBeGreaterThan(0);

    for (const connection of stalled) connection.socket.resume();
    const responses = await Promise.all(stalled.map((connection) => connection.done));
    for (const response of responses) {
      expect(response.status).toBe(200);
      expect(response.endedBy).not.toBe('complete'); // cut off, without `end`
      const ids = eventFrames(parseFrames(response.text).frames).map(idOf);
      expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => i + 1));
      expect(ids.length).toBeLessThan(EVENTS);
    }

    // One of them resumes after its last complete event and gets the rest exactly once.
    const before = eventFrames(parseFrames(responses[0]!.text).frames).map(idOf);
    const resumed = await rawRequest(url, {
      headers: { 'Last-Event-ID': String(before.length) },
      timeoutMs: 30_000,
    });
    const after = eventFrames(parseFrames(resumed.text).frames);
    expect([...before, ...after.map(idOf)]).toEqual(Array.from({ length: EVENTS + 1 }, (_, i) => i + 1));
    expect(after.at(-1)!.event).toBe('end');
    expect(testApp.tasks.stats.openStreams).toBe(0);
  });
});
