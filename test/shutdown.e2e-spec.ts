import { createTask, openStream } from './utils/api';
import { eventFrames, idOf, parseFrames } from '@app/sse-resume/testing/sse';
import { ADAPTERS, type Adapter } from './utils/start-app';
import { type ChildApp, startChildApp } from './utils/child-app';

/** `scripts/start.js` builds first when dist/ is older than the sources (`nest build`, ~10-20 s). */
const START_TIMEOUT_MS = 120_000;
const SHUTDOWN_LIMIT_MS = 10_000;

/** Runs `node scripts/start.js` (the `npm start` entry) on a free port; resolves when it listens. */
function startProcess(adapter: Adapter): Promise<ChildApp> {
  return startChildApp(
    { HTTP_ADAPTER: adapter },
    { script: 'scripts/start.js', timeoutMs: START_TIMEOUT_MS },
  );
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.each(ADAPTERS)('SIGTERM to `node scripts/start.js` (%s)', (adapter: Adapter) => {
  let started: ChildApp | undefined;

  afterEach(() => {
    // Only if the test failed half-way: kill exactly the processes this test started.
    if (
      started?.child.pid !== undefined &&
      started.child.exitCode === null &&
      started.child.signalCode === null
    ) {
      started.child.kill('SIGKILL');
    }
    if (started && isAlive(started.appPid)) process.kill(started.appPid, 'SIGKILL');
    started = undefined;
  });

  it(
    'ends open streams and exits cleanly within 10 s',
    async () => {
      started = await startProcess(adapter);
      const { url } = started;
      const task = await createTask(url, { steps: 100_000, intervalMs: 20 });
      const stream = openStream(url, task.streamUrl);
      await stream.waitForFrames((frames) => eventFrames(frames).length >= 2, 'two events');

      const t0 = Date.now();
      expect(started.child.kill('SIGTERM')).toBe(true);
      const [response, exit] = await Promise.all([stream.done, started.exited]);
      const elapsed = Date.now() - t0;

      expect(elapsed).toBeLessThan(SHUTDOWN_LIMIT_MS);
      // The stream ended (by the server), whether with a clean last chunk or a closed socket.
      expect(response.status).toBe(200);
      expect(['complete', 'fin']).toContain(response.endedBy);
      // Without a terminal event (the library's design: clients reconnect, elsewhere if there
      // is an elsewhere), and without losing or repeating an id before it.
      const events = eventFrames(parseFrames(response.text).frames);
      expect(events.every((frame) => frame.event === 'progress')).toBe(true);
      expect(events.map(idOf)).toEqual(events.map((_, i) => i + 1));
      // A clean shutdown: exit 0 or the re-raised SIGTERM, never a failure code.
      expect(exit.code === 0 || exit.signal === 'SIGTERM').toBe(true);
      expect(isAlive(started.appPid)).toBe(false);
      expect(started.output()).not.toMatch(/shutdown took longer|ERROR/);
    },
    START_TIMEOUT_MS + 20_000,
  );
});
