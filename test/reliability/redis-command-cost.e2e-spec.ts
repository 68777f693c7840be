import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { cancelTask, createTask, type CreatedTask } from '../utils/api';
import { freePort, startRedis, stopRedis } from '@app/sse-resume/testing/private-redis';
import { openRaw, type RawHttpConnection } from '@app/sse-resume/testing/raw-http';
import { type RunningApp, startApp } from '../utils/start-app';

/**
 * The cost model of docs/scaling.md, measured: N example-app instances on one private
 * redis-server, one task emitting an event every 10 ms (one event per APPEND call: the worst
 * case for batching), S subscribers spread over the instances. `INFO commandstats` over a
 * window of EVENTS events (CONFIG RESETSTAT at its start) gives Redis commands per emitted
 * event, which must not grow with S or N; PUBLISH is one per APPEND call; Redis's output bytes
 * grow with the instances subscribed, not with S. Prints the table docs/scaling.md quotes.
 */
const PREFIX = 'cost:';
/** Events in each measured window (~1.7 s at one event every 10 ms). */
const EVENTS = 150;
/**
 * Commands per event a window may add over the S=1 window: lease renewals (one RENEW and one
 * ZADD per owned task every leaseMs / 3 = 3.3 s) and the eviction job (about 5 commands per
 * instance every leaseMs / 2 = 5 s) run on timers, not per event: at most ~12 commands in a
 * 150-event window, 0.08 per event. A per-subscriber cost would add at least 9 (S = 10).
 */
const TIMER_SLACK_PER_EVENT = 0.25;
/** The admin connection's own commands, left out of the counts. */
const ADMIN_COMMANDS = new Set(['info', 'config|resetstat', 'multi', 'exec', 'pubsub|numsub']);

/**
 * How the task emits: one event every 10 ms, or as fast as it can. Either way the demo task
 * awaits each emit, and an emit resolves once Redis has the event, so each APPEND call
 * carries one event (the writer batches only emits that are in flight together).
 */
interface Pace {
  name: 'paced' | 'burst';
  intervalMs: number;
  /** The window starts once this many events exist (burst: past the history limit, trimming). */
  startAfter: number;
  /** Events in the measured window. */
  events: number;
}
const PACED: Pace = { name: 'paced', intervalMs: 10, startAfter: 0, events: EVENTS };
/** Past the default history limit (10 000): every APPEND also trims the oldest event. */
const BURST: Pace = { name: 'burst', intervalMs: 0, startAfter: 10_200, events: 5_000 };

interface Sample {
  pace: Pace['name'];
  instances: number;
  subscribers: number;
  events: number;
  /** Length of the window. */
  seconds: number;
  /** Commands per emitted event, by command (script-internal commands included, as Redis counts them). */
  perEvent: Record<string, number>;
  totalPerEvent: number;
  publishes: number;
  /** Instances subscribed to the task's live channel (PUBSUB NUMSUB). */
  channelSubscribers: number;
  netInPerEvent: number;
  netOutPerEvent: number;
  /** SSE bytes one subscriber received per event. */
  sseBytesPerEvent: number;
  /** Attaching the S subscribers: lookups (HGETALL), history reads (READ_FRAMES' XRANGE), SUBSCRIBEs. */
  attach: { hgetall: number; xrange: number; subscribe: number };
}

function parseCommandStats(info: string): Record<string, number> {
  const calls: Record<string, number> = {};
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (!ADMIN_COMMANDS.has(match[1]!)) calls[match[1]!] = Number(match[2]);
  }
  return calls;
}

function infoField(info: string, name: string): number {
  const match = new RegExp(`^${name}:(\\d+)`, 'm').exec(info);
  if (!match) throw new Error(`no ${name} in INFO`);
  return Number(match[1]);
}

/** The last event id a stream received (looks at its last chunks only: streams are long). */
function lastIdOf(connection: RawHttpConnection): number {
  const tail = Buffer.concat(connection.chunks.slice(-3).map((chunk) => chunk.bytes)).toString('latin1');
  let last = 0;
  for (const match of tail.matchAll(/(?:^|\n)id: (\d+)\n/g)) last = Math.max(last, Number(match[1]));
  return last;
}

async function until(predicate: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('Redis commands per emitted event do not grow with subscribers (S) or instances (N)', () => {
  let dir: string;
  let redisServer: ChildProcess;
  let admin: Redis;
  let apps: RunningApp[];
  const samples: Sample[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sse-cost-'));
    const port = await freePort();
    redisServer = await startRedis(port, dir, false);
    const env = { REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_KEY_PREFIX: PREFIX };
    apps = await Promise.all([startApp('express', env), startApp('fastify', env)]);
    admin = new Redis(`redis://127.0.0.1:${port}`);
  });

  afterAll(async () => {
    admin?.disconnect();
    await Promise.all((apps ?? []).map((app) => app.close()));
    if (redisServer) await stopRedis(redisServer);
    rmSync(dir, { recursive: true, force: true });
  });

  /** One window: a task on the first instance, S subscribers round-robin over `instances`. */
  async function measure(instances: RunningApp[], subscribers: number, pace = PACED): Promise<Sample> {
    await admin.config('RESETSTAT');
    const task: CreatedTask = await createTask(instances[0]!.baseUrl, {
      steps: 100_000,
      intervalMs: pace.intervalMs,
    });
    const streams = Array.from({ length: subscribers }, (_, i) =>
      openRaw(instances[i % instances.length]!.baseUrl + task.streamUrl, {
        headers: { Accept: 'text/event-stream' },
        timeoutMs: 60_000,
      }),
    );
    try {
      // Every stream is live: each got an event appended after the last one had attached.
      await until(() => streams.every((s) => s.status === 200 && lastIdOf(s) > 0), 'every stream attached');
      const attachedAt = Math.max(...streams.map(lastIdOf));
      await until(() => streams.every((s) => lastIdOf(s) > attachedAt), 'every stream live');
      const attach = parseCommandStats(await admin.info('commandstats'));
      const metaKey = `${PREFIX}{${task.taskId}}:meta`;
      const [channelSubscribers] = (await admin.pubsub('NUMSUB', `${PREFIX}{${task.taskId}}:live`))
        .slice(1)
        .map(Number);

      await until(() => streams.every((s) => lastIdOf(s) >= pace.startAfter), `${pace.startAfter} events`);
      // The window: RESETSTAT and the first id in one transaction, the stats and the last id in another.
      const started = (await admin.multi().hget(metaKey, 'lastEventId').config('RESETSTAT').exec())!;
      const startId = Number(started[0]![1]);
      const startedAt = performance.now();
      const sseBefore = streams.map((s) => s.bytesReceived);
      await until(() => streams.every((s) => lastIdOf(s) >= startId + pace.events), `${pace.events} events`);
      const ended = (await admin
        .multi()
        .info('commandstats')
        .info('stats')
        .hget(metaKey, 'lastEventId')
        .exec())!;
      const seconds = (performance.now() - startedAt) / 1000;
      const events = Number(ended[2]![1]) - startId;
      const calls = parseCommandStats(ended[0]![1] as string);
      const stats = ended[1]![1] as string;
      const sseBytes = streams.reduce((sum, s, i) => sum + s.bytesReceived - sseBefore[i]!, 0);

      const perEvent = Object.fromEntries(
        Object.entries(calls)
          .sort(([, a], [, b]) => b - a)
          .map(([name, count]) => [name, count / events]),
      );
      return {
        pace: pace.name,
        instances: instances.length,
        subscribers,
        events,
        seconds,
        perEvent,
        totalPerEvent: Object.values(calls).reduce((sum, count) => sum + count, 0) / events,
        publishes: calls.publish ?? 0,
        channelSubscribers: channelSubscribers ?? 0,
        netInPerEvent: infoField(stats, 'total_net_input_bytes') / events,
        netOutPerEvent: infoField(stats, 'total_net_output_bytes') / events,
        sseBytesPerEvent: sseBytes / (events * subscribers),
        attach: {
          hgetall: attach.hgetall ?? 0,
          xrange: attach.xrange ?? 0,
          subscribe: attach.subscribe ?? 0,
        },
      };
    } finally {
      await cancelTask(instances[0]!.baseUrl, task.taskId, task.resumeKey);
      await Promise.all(streams.map((s) => s.close()));
    }
  }

  const paced = (instances: number, subscribers: number): Sample =>
    samples.find((s) => s.pace === 'paced' && s.instances === instances && s.subscribers === subscribers)!;

  it('measures N = 1, 2 x S = 1, 10, 100 (paced), and N = 2, S = 10 (burst); prints the table', async () => {
    for (const instances of [1, 2]) {
      for (const subscribers of [1, 10, 100]) {
        samples.push(await measure(apps.slice(0, instances), subscribers));
      }
    }
    samples.push(await measure(apps, 10, BURST));
    const fixed = (n: number, digits = 2) => n.toFixed(digits);
    const commands = [...new Set(samples.flatMap((s) => Object.keys(s.perEvent)))];
    const rows = [
      `| pace | N | S | events | events/s | events/APPEND | ${commands.join(' | ')} | total | NUMSUB | in B | out B | SSE B/sub | attach: HGETALL, XRANGE, SUBSCRIBE |`,
      `|${' --- |'.repeat(commands.length + 12)}`,
      ...samples.map(
        (s) =>
          `| ${s.pace} | ${s.instances} | ${s.subscribers} | ${s.events} | ${fixed(s.events / s.seconds, 0)} | ` +
          `${fixed(s.events / s.publishes, 1)} | ` +
          `${commands.map((c) => fixed(s.perEvent[c] ?? 0)).join(' | ')} | ${fixed(s.totalPerEvent)} | ` +
          `${s.channelSubscribers} | ${fixed(s.netInPerEvent, 0)} | ${fixed(s.netOutPerEvent, 0)} | ` +
          `${fixed(s.sseBytesPerEvent, 0)} | ${s.attach.hgetall}, ${s.attach.xrange}, ${s.attach.subscribe} |`,
      ),
    ];
    console.log(
      'Redis per emitted event (commands, bytes into and out of Redis, SSE bytes per subscriber), ' +
        `measured window after all S subscribers are live:\n${rows.join('\n')}`,
    );
  }, 50_000);

  it('commands per event do not grow with S or N (timer slack only)', () => {
    expect(samples).toHaveLength(7);
    const base = paced(1, 1);
    for (const s of samples.filter((sample) => sample.pace === 'paced')) {
      const context = `N=${s.instances} S=${s.subscribers}`;
      const growth = s.totalPerEvent - base.totalPerEvent;
      expect({ context, growth: Math.abs(growth) <= TIMER_SLACK_PER_EVENT }).toEqual({
        context,
        growth: true,
      });
      for (const [command, perEvent] of Object.entries(s.perEvent)) {
        const within = perEvent <= (base.perEvent[command] ?? 0) + TIMER_SLACK_PER_EVENT;
        expect({ context, command, within }).toEqual({ context, command, within: true });
      }
    }
  });

  it('one PUBLISH per APPEND call; one SUBSCRIBE per instance with subscribers, whatever S', () => {
    for (const s of samples) {
      // Each APPEND call publishes its events in one message; here a call carries one event.
      expect(Math.abs(s.publishes - s.events)).toBeLessThanOrEqual(2);
      const subscribedInstances = Math.min(s.instances, s.subscribers);
      expect(s.channelSubscribers).toBe(subscribedInstances);
      expect(s.attach.subscribe).toBe(subscribedInstances);
    }
    // At the history limit each APPEND also reads the oldest event's size and trims it.
    const burst = samples.find((s) => s.pace === 'burst')!;
    expect(burst.perEvent.xrange).toBeCloseTo(1, 1);
    expect(burst.perEvent.xtrim).toBeCloseTo(1, 1);
  });

  it("Redis's output bytes per event grow with the instances subscribed (pub/sub fan-out), not with S", () => {
    const perInstance = (s: Sample) => s.netOutPerEvent / s.channelSubscribers;
    const base = perInstance(paced(1, 1));
    for (const s of samples.filter((sample) => sample.pace === 'paced')) {
      expect(perInstance(s)).toBeGreaterThan(base * 0.9);
      expect(perInstance(s)).toBeLessThan(base * 1.1);
    }
    expect(paced(2, 100).netOutPerEvent).toBeGreaterThan(paced(1, 100).netOutPerEvent * 1.8);
  });
});
