import { SseResumeClient, type TaskStream } from '../../libs/sse-resume-client/src';
import { seedFromEnv } from '@app/sse-resume/testing/prng';
import { deleteKeys, TEST_REDIS_URL, uniquePrefix } from '@app/sse-resume/testing/redis';
import { type RedisClusterHandle, startRedisCluster } from '@app/sse-resume/testing/redis-cluster';
import { type CuttingProxy, startCuttingProxy } from '../utils/cutting-proxy';
import { type Adapter, type RunningApp, startApp } from '../utils/start-app';
import {
  collect,
  type DemoEvent,
  type DemoEvents,
  type DemoResult,
  demoProblems,
  roundRobinFetch,
} from './helpers';

/**
 * The guarantee, end to end in Node with our own client: tasks of the example app
 * stream to `SseResumeClient`s through cutting proxies that drop every event stream after a
 * seeded random number of response bytes (head included), alternately with FIN and RST, until
 * 1,000 cuts happened per mode. Every client must get each id once, in order, no gap, and one
 * `end` with the demo task's result. In Redis mode two instances (Express and Fastify) share a
 * key prefix, each behind its own proxy, and the client alternates between them on every
 * request; the same again on a Redis Cluster (three primaries, sharded pub/sub) that this
 * spec starts. Rerun a failure with SSE_RESUME_SEED=<seed>.
 */
const CUTS = 1_000;
const TASKS = 4;
/** Enough events that the cuts run out long before the tasks end (each cut costs ~2-3 events). */
const STEPS = 1_000;
const PAYLOAD_BYTES = 40;
/** Budgets from 1 byte to a few frames: cuts land in heads, chunk-size lines and frames. */
const MIN_BYTES = 1;
const MAX_BYTES = 1_200;

interface Mode {
  name: string;
  redis: boolean;
  cluster?: boolean;
  adapters: Adapter[];
}

/** Fastify gets its cuts in Redis mode (a memory-mode Fastify run adds ~10 s for little). */
const MODES: Mode[] = [
  { name: 'memory, express', redis: false, adapters: ['express'] },
  { name: 'redis, express + fastify', redis: true, adapters: ['express', 'fastify'] },
  { name: 'redis cluster, express + fastify', redis: true, cluster: true, adapters: ['express', 'fastify'] },
];

describe('SseResumeClient through 1,000 cuts per mode', () => {
  let cluster: RedisClusterHandle | undefined;
  afterAll(() => cluster?.stop());

  it.each(MODES.map((mode) => [mode.name, mode] as const))(
    '%s: every id once, in order, no gap, one end (completed)',
    async (_name, mode) => {
      const seed = seedFromEnv();
      const prefix = uniquePrefix('e2e-client-cuts');
      if (mode.cluster) cluster ??= await startRedisCluster();
      const env: Record<string, string> = mode.cluster
        ? { REDIS_CLUSTER_NODES: cluster!.seeds, REDIS_KEY_PREFIX: prefix }
        : mode.redis
          ? { REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix }
          : {};
      const apps: RunningApp[] = [];
      const proxies: CuttingProxy[] = [];
      try {
        apps.push(...(await Promise.all(mode.adapters.map((adapter) => startApp(adapter, env)))));
        proxies.push(
          ...(await Promise.all(
            apps.map((app, i) =>
              startCuttingProxy({
                target: app.baseUrl,
                seed: seed + i,
                minBytes: MIN_BYTES,
                maxBytes: MAX_BYTES,
                cutRequest: (line) => line.includes('/events'),
                maxCuts: CUTS / apps.length,
              }),
            ),
          )),
        );
        const began = Date.now();
        let opens = 0;
        const causes = new Map<string, number>();
        const run = async (i: number) => {
          const client = new SseResumeClient({
            baseUrl: proxies[0]!.url,
            // Each request to the next proxy (instance): starts and resumes alternate.
            fetch: roundRobinFetch(proxies.map((proxy) => proxy.url)),
            reconnect: { initialDelayMs: 0, honorServerRetry: false, maxDelayMs: 10 },
            idleTimeoutMs: 20_000,
          });
          const stream = await client.start<DemoEvents, DemoResult>(
            { steps: STEPS, intervalMs: i % 2, payloadBytes: PAYLOAD_BYTES },
            {
              onOpen: () => opens++,
              onReconnect: ({ cause }) => {
                const name = describeCause(cause);
                causes.set(name, (causes.get(name) ?? 0) + 1);
              },
            },
          );
          const events = (await collect(stream)) as DemoEvent[];
          return { stream, events };
        };
        const results = await Promise.all(Array.from({ length: TASKS }, (_, i) => run(i)));
        const elapsedMs = Date.now() - began;

        const cuts = proxies.flatMap((proxy) => proxy.cuts);
        const reconnects = results.reduce((sum, { stream }) => sum + stream.reconnects, 0);
        const fin = cuts.filter((cut) => cut.kind === 'fin').length;
        // A cut before the head is complete never opens the stream.
        const beforeHead = TASKS + reconnects - opens;
        const summary =
          `client cuts, ${mode.name}: ${cuts.length} cuts (FIN ${fin}, RST ${cuts.length - fin}, ` +
          `${beforeHead} before the head), ${reconnects} reconnects, ${TASKS} tasks x ${STEPS} events ` +
          `in ${elapsedMs} ms (seed ${seed}); causes ${JSON.stringify(Object.fromEntries(causes))}`;
        console.log(summary);

        for (const { events, stream } of results) {
          expect({ summary, problems: demoProblems(events, STEPS, PAYLOAD_BYTES) }).toEqual({
            summary,
            problems: [],
          });
          expect(events.filter((event) => event.type === 'gap')).toEqual([]);
          expectEnded(stream);
        }
        expect(cuts.length).toBe(CUTS);
        expect(Math.abs(fin - (cuts.length - fin))).toBeLessThanOrEqual(apps.length);
        for (const proxy of proxies) expect(proxy.cuts.length).toBe(CUTS / apps.length);
        // Every cut makes its stream reconnect, unless it came after the `end` was read; other
        // failures would add reconnects (and show in the causes).
        expect(reconnects).toBeGreaterThanOrEqual(CUTS - TASKS);
        expect(reconnects).toBeLessThanOrEqual(CUTS);
        expect(beforeHead).toBeGreaterThan(0);
        expect(opens - TASKS).toBeGreaterThan(CUTS / 2);
      } finally {
        await Promise.all(proxies.map((proxy) => proxy.close()));
        await Promise.all(apps.map((app) => app.close()));
        if (mode.redis && !mode.cluster) await deleteKeys(prefix);
      }
    },
  );
});

function expectEnded(stream: TaskStream<DemoEvents, DemoResult>): void {
  expect(stream.end).toMatchObject({ type: 'end', status: 'completed', result: { steps: STEPS } });
  expect(stream.lastEventId).toBe(STEPS + 1);
}

/** A short name for why a connection ended: the error's message and its cause's code. */
function describeCause(cause: unknown): string {
  if (!(cause instanceof Error)) return String(cause);
  const inner = cause.cause as { code?: string; message?: string } | undefined;
  return inner ? `${cause.message} (${inner.code ?? inner.message})` : cause.message;
}
