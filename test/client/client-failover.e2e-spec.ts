import { setTimeout as sleep } from 'node:timers/promises';
import { SseResumeClient } from '../../libs/sse-resume-client/src';
import { deleteKeys, TEST_REDIS_URL, uniquePrefix } from '@app/sse-resume/testing/redis';
import { type ChildApp, killChildApp, startChildApp } from '../utils/child-app';
import { type RunningApp, startApp } from '../utils/start-app';
import {
  type DemoEvent,
  type DemoEvents,
  type DemoResult,
  demoProblems,
  failoverFetch,
  isConnectionRefused,
  range,
} from './helpers';

/**
 * `SseResumeClient` when the instance it streams from goes away, Redis mode (two instances on
 * one key prefix). The client's `fetch` goes to A while A accepts connections and to B once A
 * refuses them (a load balancer failing over).
 */
const PREFIX = uniquePrefix('e2e-client-failover');
const ENV = { REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: PREFIX };
/** The owner's lease (default 10 s): how long B waits before it fails a dead owner's task. */
const LEASE_MS = 1_500;
const RECONNECT = { initialDelayMs: 0, honorServerRetry: false, maxDelayMs: 100 };

afterAll(() => deleteKeys(PREFIX));

describe('owner instance dies (child processes, lease 1.5 s)', () => {
  let children: ChildApp[] = [];
  afterEach(async () => {
    await Promise.all(children.map(killChildApp));
    children = [];
  });

  /** A (Express) and B (Fastify), killed after the test. */
  const startPair = async (env: Record<string, string> = {}): Promise<[ChildApp, ChildApp]> => {
    const start = (adapter: string) =>
      startChildApp({ ...ENV, HTTP_ADAPTER: adapter, REDIS_LEASE_MS: String(LEASE_MS), ...env });
    const results = await Promise.allSettled([start('express'), start('fastify')]);
    for (const result of results) if (result.status === 'fulfilled') children.push(result.value);
    for (const result of results) if (result.status === 'rejected') throw result.reason;
    return [children[0]!, children[1]!];
  };

  it('SIGKILL of A mid-task: the stream fails over to B and ends with `failed` from B, every id once', async () => {
    const [a, b] = await startPair();
    const routing = failoverFetch(a.url, b.url);
    const client = new SseResumeClient({ baseUrl: a.url, fetch: routing.fetch, reconnect: RECONNECT });
    const stream = await client.start<DemoEvents, DemoResult>({ steps: 100_000, intervalMs: 20 });
    const events: DemoEvent[] = [];
    let killedAt = 0;
    for await (const event of stream) {
      events.push(event);
      if (events.length === 10) {
        // The start and the stream
        expect(routing.responses).toEqual([
          { origin: a.url, status: 201 },
          { origin: a.url, status: 200 },
        ]);
        a.child.kill('SIGKILL');
        await a.exited;
        killedAt = Date.now();
      }
    }
    const detectedMs = Date.now() - killedAt;

    const end = events.at(-1)!;
    expect(end).toEqual({
      type: 'end',
      id: events.length,
      status: 'failed',
      error: expect.stringMatching(/owner instance .* lost/),
    });
    expect(events.map((event) => event.id)).toEqual(range(events.length));
    expect(events.filter((event) => event.type !== 'progress')).toEqual([end]);
    expect(stream.end).toBe(end);
    // Everything after the kill came from B: the end too.
    expect(routing.current()).toBe(b.url);
    expect(routing.responses.slice(2)).toEqual(
      routing.responses.slice(2).map(() => ({ origin: b.url, status: 200 })),
    );
    expect(routing.responses.length).toBeGreaterThan(2);
    expect(stream.reconnects).toBeGreaterThanOrEqual(1);
    // About one lease plus B's check interval (lease / 2); the default lease would take 10 s+.
    expect(detectedMs).toBeLessThan(LEASE_MS * 4);
    console.log(
      `client failover, SIGKILL: ${events.length - 1} events, end (failed) from B ${detectedMs} ms after the kill, ` +
        `${stream.reconnects} reconnects, lease ${LEASE_MS} ms`,
    );
  }, 30_000);

  it('SIGTERM of A (graceful restart) with a task that finishes within the grace: `completed`, every id once', async () => {
    const [a, b] = await startPair({ SHUTDOWN_GRACE_MS: '3000' });
    // A draining A may answer 503 (STORE_UNAVAILABLE) until it exits: a balancer moves on.
    const routing = failoverFetch(a.url, b.url, { drainingStatuses: [503] });
    const client = new SseResumeClient({ baseUrl: a.url, fetch: routing.fetch, reconnect: RECONNECT });
    const steps = 40;
    const stream = await client.start<DemoEvents, DemoResult>({ steps, intervalMs: 25 });
    const events: DemoEvent[] = [];
    let terminatedAt = 0;
    for await (const event of stream) {
      events.push(event);
      if (events.length === 3) {
        a.child.kill('SIGTERM');
        terminatedAt = Date.now();
      }
    }
    const endedMs = Date.now() - terminatedAt;
    expect(demoProblems(events, steps)).toEqual([]);
    // A ended its open stream at once, without an end event; the client resumed (on A, which
    // still answers during its grace, or on B once A is gone).
    expect(stream.reconnects).toBeGreaterThanOrEqual(1);
    console.log(
      `client failover, SIGTERM: end (completed) ${endedMs} ms after the signal, ${stream.reconnects} reconnects, ` +
        `answers ${routing.responses.map(({ origin, status }) => `${origin === a.url ? 'A' : 'B'} ${status}`).join(', ')}`,
    );
  }, 30_000);
});

describe('the instance the client streams from is stopped and started again on the same port (in-process)', () => {
  const apps: { close(): Promise<void> }[] = [];
  let restart: Promise<unknown> | undefined;
  afterEach(async () => {
    await restart?.catch(() => undefined);
    await Promise.all(apps.splice(0).map((app) => app.close()));
  });

  it('the client retries the refused connections, resumes on the new instance, and the task completes', async () => {
    // The task runs on `owner`; the client streams it from `front`, which goes down and up again.
    const owner = await startApp('fastify', ENV);
    apps.push(owner);
    const front = await startApp('express', ENV, { cutOnClose: true });
    apps.push(front);
    const starter = new SseResumeClient({ baseUrl: owner.baseUrl });
    const started = await starter.start({ steps: 60, intervalMs: 25 });
    const causes: unknown[] = [];
    const client = new SseResumeClient({
      baseUrl: front.baseUrl,
      reconnect: { ...RECONNECT, maxDelayMs: 50 },
    });
    const stream = client.stream<DemoEvents, DemoResult>(started.taskId, {
      resumeKey: started.resumeKey,
      onReconnect: ({ cause }) => causes.push(cause),
    });
    const events: DemoEvent[] = [];
    let downMs = 0;
    let again: RunningApp | undefined;
    for await (const event of stream) {
      events.push(event);
      if (events.length === 10) {
        restart = (async () => {
          await front.close();
          const downAt = Date.now();
          await sleep(300);
          again = await startApp('express', ENV, { port: front.port, cutOnClose: true });
          apps.push(again);
          downMs = Date.now() - downAt;
        })();
      }
    }
    await restart;
    expect(demoProblems(events, 60)).toEqual([]);
    expect(again?.baseUrl).toBe(front.baseUrl);
    const refused = causes.filter(isConnectionRefused).length;
    expect(refused).toBeGreaterThanOrEqual(1);
    console.log(
      `client restart on the same port: down ${downMs} ms, ${stream.reconnects} reconnects (${refused} refused), ` +
        `${events.length} events`,
    );
  }, 30_000);
});
