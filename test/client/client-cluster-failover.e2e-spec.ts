import { Redis } from 'ioredis';
import { SseResumeClient, type TaskStream } from '../../libs/sse-resume-client/src';
import { uniquePrefix } from '@app/sse-resume/testing/redis';
import { type RedisClusterHandle, startRedisCluster } from '@app/sse-resume/testing/redis-cluster';
import { RedisKeyspace } from '@app/sse-resume/stores/redis/redis-keyspace';
import { type RunningApp, startApp } from '../utils/start-app';
import { type DemoEvent, type DemoEvents, type DemoResult, roundRobinFetch, splitFetch } from './helpers';

/**
 * A Redis Cluster primary killed (SIGKILL) while tasks stream, its replica promoted: two app
 * instances (Express and Fastify) on the Cluster, clients alternating between them, tasks on
 * every shard. Every stream must go on: each id once and in order, or an explicit `gap` for
 * ids a failover lost (never a silent hole, never an id twice), then one `end` (completed:
 * the owner keeps its lease through the failover, its writes are retried until the replica
 * answers). Measured: how long the failover took, and how long until the killed shard's
 * streams flowed again.
 */
const TASKS = 6;
const STEPS = 400;
const INTERVAL_MS = 10;
const RECONNECT = { initialDelayMs: 0, honorServerRetry: false, maxDelayMs: 200 };

describe('Redis Cluster failover under streaming tasks', () => {
  let cluster: RedisClusterHandle;
  const apps: RunningApp[] = [];
  const prefix = uniquePrefix('e2e-cluster-failover');

  beforeAll(async () => {
    cluster = await startRedisCluster({ nodeTimeoutMs: 1_000 });
    const env = { REDIS_CLUSTER_NODES: cluster.seeds, REDIS_KEY_PREFIX: prefix };
    apps.push(...(await Promise.all([startApp('express', env), startApp('fastify', env)])));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
    await cluster?.stop();
  });

  it('kill -9 of the primary holding a running task: every id once or a gap, one end, streams flow again', async () => {
    const client = new SseResumeClient({
      baseUrl: apps[0]!.baseUrl,
      fetch: roundRobinFetch(apps.map((app) => app.baseUrl)),
      reconnect: RECONNECT,
      idleTimeoutMs: 20_000,
    });
    const streams = await Promise.all(
      Array.from({ length: TASKS }, () =>
        client.start<DemoEvents, DemoResult>({ steps: STEPS, intervalMs: INTERVAL_MS }),
      ),
    );
    const arrivals = streams.map(() => [] as { event: DemoEvent; at: number }[]);
    const reading = streams.map(async (stream, i) => {
      for await (const event of stream) arrivals[i]!.push({ event, at: Date.now() });
    });

    // Once every task has streamed a while, kill the primary of the first task's slot.
    const victim = streams[0]!;
    await waitUntil(() => arrivals.every((events) => events.length >= 30));
    const keyspace = new RedisKeyspace(prefix, 16, true);
    const slotKey = keyspace.taskKey(victim.taskId, 'meta');
    const onShard = await Promise.all(
      streams.map(
        async (stream) => (await cluster.primaryForKey(keyspace.taskKey(stream.taskId, 'meta'))).port,
      ),
    );
    const killed = await cluster.killPrimaryForKey(slotKey);
    const killedAt = Date.now();
    const lastBefore = arrivals[0]!.at(-1)!.event.id;
    const failoverMs = await cluster.waitForFailover(slotKey);
    await Promise.all(reading);

    const affected = streams.map((_, i) => onShard[i] === killed.killed.port);
    const flowedAgainMs =
      arrivals[0]!.find(({ event, at }) => at > killedAt && event.id > lastBefore)!.at - killedAt;
    const gaps = arrivals.flatMap((events) => events.filter(({ event }) => event.type === 'gap'));
    const summary =
      `cluster failover: primary :${killed.killed.port} killed, replica promoted in ${failoverMs} ms; ` +
      `its task streamed again ${flowedAgainMs} ms after the kill; ${affected.filter(Boolean).length} of ${TASKS} tasks ` +
      `on that shard; ${gaps.length} gaps; reconnects ${streams.map((s) => s.reconnects).join(',')}`;
    console.log(summary);

    streams.forEach((stream, i) => {
      expect({
        summary,
        task: i,
        problems: streamProblems(
          arrivals[i]!.map(({ event }) => event),
          stream,
        ),
      }).toEqual({
        summary,
        task: i,
        problems: [],
      });
    });
    // The killed shard's streams were cut (their sharded subscription went with the primary).
    expect(streams[0]!.reconnects).toBeGreaterThanOrEqual(1);
  }, 90_000);

  it('a resharding moves running tasks (their bucket, its control channel) to another primary: every id once, no gap, one end', async () => {
    // Tasks run on the first instance, streams are read from the second: live events reach
    // them only through sharded pub/sub, whose channels the resharding moves.
    const client = new SseResumeClient({
      baseUrl: apps[0]!.baseUrl,
      fetch: splitFetch(apps[0]!.baseUrl, apps[1]!.baseUrl),
      reconnect: RECONNECT,
      idleTimeoutMs: 20_000,
    });
    const streams = await Promise.all(
      Array.from({ length: TASKS }, () =>
        client.start<DemoEvents, DemoResult>({ steps: STEPS, intervalMs: INTERVAL_MS }),
      ),
    );
    const arrivals = streams.map(() => [] as DemoEvent[]);
    const reading = streams.map(async (stream, i) => {
      for await (const event of stream) arrivals[i]!.push(event);
    });
    await waitUntil(() => arrivals.every((events) => events.length >= 30));
    // Move the slots of two tasks while they stream (their keys, and their bucket's, move along).
    const keyspace = new RedisKeyspace(prefix, 16, true);
    const moved = [];
    for (const stream of streams.slice(0, 2)) {
      const slotKey = keyspace.taskKey(stream.taskId, 'meta');
      const started = Date.now();
      const migration = await cluster.migrateSlotOf(slotKey);
      moved.push(
        `slot ${migration.slot} :${migration.from.port} → :${migration.to.port} in ${Date.now() - started} ms`,
      );
    }
    await Promise.all(reading);
    const summary = `resharding: ${moved.join('; ')}; reconnects ${streams.map((s) => s.reconnects).join(',')}`;
    console.log(summary);
    streams.forEach((stream, i) => {
      expect({ summary, task: i, problems: streamProblems(arrivals[i]!, stream) }).toEqual({
        summary,
        task: i,
        problems: [],
      });
      // Nothing is lost in a resharding: no gap at all.
      expect(arrivals[i]!.filter((event) => event.type === 'gap')).toEqual([]);
    });
  }, 90_000);

  it('a failover that loses acknowledged writes: no id reused, the stream goes on past them, a late reader gets a gap', async () => {
    const client = new SseResumeClient({
      baseUrl: apps[0]!.baseUrl,
      fetch: roundRobinFetch(apps.map((app) => app.baseUrl)),
      reconnect: RECONNECT,
      idleTimeoutMs: 20_000,
    });
    // A task on a shard that still has a replica (the test before killed one primary).
    const keyspace = new RedisKeyspace(prefix, 16, true);
    const withReplica = new Set(
      (await cluster.primaries()).filter((p) => p.replicas.length > 0).map((p) => p.port),
    );
    let stream: TaskStream<DemoEvents, DemoResult> | undefined;
    while (!stream) {
      const candidate = await client.start<DemoEvents, DemoResult>({ steps: STEPS, intervalMs: INTERVAL_MS });
      const { port } = await cluster.primaryForKey(keyspace.taskKey(candidate.taskId, 'meta'));
      if (withReplica.has(port)) stream = candidate;
      else await client.cancel(candidate.taskId, { resumeKey: candidate.resumeKey });
    }
    const events: DemoEvent[] = [];
    const reading = (async () => {
      for await (const event of stream) events.push(event);
    })();
    await waitUntil(() => events.length >= 20);
    const slotKey = keyspace.taskKey(stream.taskId, 'meta');
    const primary = await cluster.primaryForKey(slotKey);
    const replica = (await cluster.primaries()).find((p) => p.port === primary.port)!.replicas[0]!;
    // The replica stops taking the replication stream: what the primary acknowledges now is
    // on the primary only (and reaches clients through SPUBLISH).
    process.kill(replica.pid, 'SIGSTOP');
    // ... and its link is cut, so not even the bytes in flight reach it when it wakes.
    const admin = new Redis({ host: primary.host, port: primary.port });
    await admin.call('CLIENT', 'KILL', 'TYPE', 'replica');
    admin.disconnect();
    const stoppedAfter = events.at(-1)!.id;
    await waitUntil(() => events.length >= stoppedAfter + 30);
    await cluster.killPrimaryForKey(slotKey);
    const seenBeforeKill = events.at(-1)!.id;
    process.kill(replica.pid, 'SIGCONT');
    const failoverMs = await cluster.waitForFailover(slotKey, 30_000);
    await reading;

    // The live reader: every id once, in order (it had the lost ids already), one end.
    expect(streamProblems(events, stream)).toEqual([]);
    // The store lost ids (stoppedAfter, seenBeforeKill] at most; they were never handed out again.
    const info = await client.info(stream.taskId, { resumeKey: stream.resumeKey });
    expect(info.lastEventId).toBe(STEPS + 1);
    // A reader resuming from before the loss gets an explicit gap where history was lost.
    const late = client.stream<DemoEvents, DemoResult>(stream.taskId, {
      resumeKey: stream.resumeKey,
      lastEventId: stoppedAfter - 5,
    });
    const replayed: DemoEvent[] = [];
    for await (const event of late) replayed.push(event);
    const gap = replayed.find((event) => event.type === 'gap');
    console.log(
      `cluster failover with lost writes: replica stopped after id ${stoppedAfter}, primary killed after ${seenBeforeKill}, ` +
        `promoted in ${failoverMs} ms; a reader from ${stoppedAfter - 5} got ${gap ? `gap ${gap.type === 'gap' ? `${gap.from}..${gap.to}` : ''}` : 'no gap'}`,
    );
    expect(gap).toBeDefined();
    expect(replayed.at(-1)).toMatchObject({ type: 'end', status: 'completed' });
    const ids = replayed.filter((event) => event.type !== 'gap').map((event) => event.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
  }, 90_000);
});

/**
 * What is wrong with one stream: ids must rise by one, except across an explicit gap that
 * covers exactly the missing ids; progress steps match their ids; one end, completed, last.
 */
function streamProblems(events: DemoEvent[], stream: TaskStream<DemoEvents, DemoResult>): string[] {
  const problems: string[] = [];
  let expected = 1;
  for (const event of events) {
    if (event.type === 'gap') {
      if (event.from !== expected) problems.push(`gap from ${event.from}, expected ${expected}`);
      expected = event.to + 1;
      continue;
    }
    if (event.id !== expected) problems.push(`id ${event.id} after ${expected - 1}`);
    expected = event.id + 1;
    if (event.type === 'progress' && event.data.step !== event.id) {
      problems.push(`event ${event.id} carries step ${event.data.step}`);
    }
  }
  const end = events.at(-1);
  if (end?.type !== 'end' || end.status !== 'completed') problems.push(`last event ${JSON.stringify(end)}`);
  if (stream.end !== end) problems.push('stream.end is not the last event');
  return problems;
}

async function waitUntil(check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
