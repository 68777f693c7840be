// Figures for docs/scaling.md: how many APPEND script calls (and events) one redis-server
// core sustains, measured through the library's RedisTaskStore against a private
// redis-server on a free loopback port (no persistence), which it stops afterwards:
//   node -r ./scripts/register-ts.js scripts/measure-redis-append-rate.ts [seconds per row, default 4]
// Each row: TASKS tasks, each with one APPEND call in flight at a time carrying k events of
// ~200 B, W other store instances watching every task (the pub/sub fan-out of W app
// instances). Redis CPU comes from INFO cpu (user + sys of the server), so "per Redis
// CPU-second" holds even when this Node process, not Redis, is the bottleneck.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { hashResumeKey } from '../libs/sse-resume/src/access/resume-key';
import { RedisKeys } from '../libs/sse-resume/src/stores/redis/redis-keys';
import { SCRIPTS } from '../libs/sse-resume/src/stores/redis/redis-scripts';
import { RedisTaskStore } from '../libs/sse-resume/src/stores/redis/redis-task-store';
import { appendArgs } from '../libs/sse-resume/src/stores/redis/redis-write-scripts';
import type { TaskStoreLimits } from '../libs/sse-resume/src/interfaces/task-store.interface';
import { freePort, startRedis, stopRedis } from '@app/sse-resume/testing/private-redis';

const MiB = 1024 * 1024;
const TASKS = 500;
const LIMITS: TaskStoreLimits = {
  ttl: 3_600_000,
  expiredRetentionMs: 3_600_000,
  historyLimit: 10_000,
  historyBytes: 8 * MiB,
  historyBudgetBytes: Number.MAX_SAFE_INTEGER,
  maxTasks: 100_000,
};

interface Row {
  /** Events per APPEND call. */
  k: number;
  /** Other instances watching every task. */
  watchers: number;
  /** A history limit the tasks pass at once: every APPEND also trims. */
  historyLimit?: number;
}

const ROWS: Row[] = [
  { k: 1, watchers: 0 },
  { k: 1, watchers: 1 },
  { k: 1, watchers: 10 },
  { k: 1, watchers: 1, historyLimit: 100 },
  { k: 10, watchers: 1 },
  { k: 100, watchers: 1 },
];

/** A progress event of ~200 B, as docs/scaling.md assumes. */
function eventData(step: number): string {
  const base = { step, total: 100_000, message: `step ${step} of 100000` };
  return JSON.stringify({ ...base, payload: 'x'.repeat(200 - JSON.stringify(base).length - 14) });
}

function infoNumber(info: string, name: string): number {
  const match = new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info);
  if (!match) throw new Error(`no ${name} in INFO`);
  return Number(match[1]);
}

function cmdstat(info: string, command: string): { calls: number; usec: number } {
  const match = new RegExp(`^cmdstat_${command}:calls=(\\d+),usec=(\\d+)`, 'm').exec(info);
  return { calls: Number(match?.[1] ?? 0), usec: Number(match?.[2] ?? 0) };
}

async function measureRow(url: string, admin: Redis, row: Row, seconds: number): Promise<string> {
  await admin.flushall();
  const limits = { ...LIMITS, ...(row.historyLimit !== undefined && { historyLimit: row.historyLimit }) };
  const writer = new RedisTaskStore(limits, { url, keyPrefix: 'rate:' });
  const watchers = Array.from(
    { length: row.watchers },
    () => new RedisTaskStore(limits, { url, keyPrefix: 'rate:' }),
  );
  await Promise.all([writer, ...watchers].map((store) => store.init()));
  const taskIds = Array.from({ length: TASKS }, (_, i) => `t${i}`);
  for (const taskId of taskIds) {
    await writer.create({
      taskId,
      keyHash: hashResumeKey(`k-${taskId}`),
      createdAt: Date.now(),
      ownerId: 'w',
    });
  }
  let delivered = 0;
  for (const store of watchers) {
    await Promise.all(taskIds.map((taskId) => store.watch(taskId, () => delivered++)));
  }

  let stopped = false;
  let appended = 0;
  const pump = async (taskId: string) => {
    let step = 0;
    while (!stopped) {
      // k appends in one turn: the store's writer sends them in one APPEND call.
      await Promise.all(
        Array.from({ length: row.k }, () => writer.append(taskId, 'progress', eventData(++step))),
      );
      appended += row.k;
    }
  };
  const pumps = taskIds.map(pump);
  await sleep(1_000); // warm-up: connections, script cache

  const before = await admin.multi().config('RESETSTAT').info('cpu').exec();
  const cpuBefore =
    infoNumber(before![1]![1] as string, 'used_cpu_user') +
    infoNumber(before![1]![1] as string, 'used_cpu_sys');
  const appendedBefore = appended;
  const deliveredBefore = delivered;
  const started = performance.now();
  await sleep(seconds * 1_000);
  const after = await admin.multi().info('cpu').info('commandstats').info('stats').exec();
  const elapsed = (performance.now() - started) / 1_000;
  const events = appended - appendedBefore;
  const deliveredEvents = delivered - deliveredBefore;
  stopped = true;
  await Promise.all(pumps);

  const cpuInfo = after![0]![1] as string;
  const stats = after![2]![1] as string;
  const cpu = infoNumber(cpuInfo, 'used_cpu_user') + infoNumber(cpuInfo, 'used_cpu_sys') - cpuBefore;
  const commands = after![1]![1] as string;
  const calls = cmdstat(commands, 'publish').calls; // only APPEND publishes here
  const evalsha = cmdstat(commands, 'evalsha');
  const inBytes = infoNumber(stats, 'total_net_input_bytes');
  const outBytes = infoNumber(stats, 'total_net_output_bytes');
  await Promise.all([writer, ...watchers].map((store) => store.close()));

  const f = (n: number) => Math.round(n).toLocaleString('en-US');
  return [
    row.k,
    row.watchers,
    row.historyLimit ?? LIMITS.historyLimit,
    f(calls / elapsed),
    f(events / elapsed),
    `${Math.round((cpu / elapsed) * 100)}%`,
    f(calls / cpu),
    f(events / cpu),
    (evalsha.usec / Math.max(1, evalsha.calls)).toFixed(1),
    f(inBytes / events),
    f(outBytes / events),
    row.watchers === 0 ? '-' : (deliveredEvents / events / row.watchers).toFixed(2),
  ].join(' | ');
}

/** One command in RESP, the way a client sends it. */
function resp(parts: string[]): Buffer {
  let text = `*${parts.length}\r\n`;
  for (const part of parts) text += `$${Buffer.byteLength(part)}\r\n${part}\r\n`;
  return Buffer.from(text);
}

/**
 * Redis alone, saturated: 4 raw sockets, 64 calls in flight each, send EVALSHA of the real
 * APPEND script (one ~200 B event per call, TASKS tasks in turn) as pre-encoded RESP, so the
 * client costs next to nothing. Sent without fencing token or write token (as a non-owner's
 * append): the script skips two HGETs and one HSET, 11 commands a call instead of 14.
 */
async function saturate(url: string, port: number, admin: Redis, seconds: number): Promise<string> {
  await admin.flushall();
  const store = new RedisTaskStore(LIMITS, { url, keyPrefix: 'rate:' });
  await store.init();
  const keys = new RedisKeys('rate:');
  const commands: Buffer[] = [];
  for (let i = 0; i < TASKS; i++) {
    const taskId = `b${i}`;
    await store.create({ taskId, keyHash: hashResumeKey(`k-${taskId}`), createdAt: Date.now() });
    const args = appendArgs(
      {
        taskId,
        fence: '',
        events: [{ type: 'progress', data: eventData(1), size: 208 }],
        token: { writer: '', write: 0 },
        known: 0,
        publish: 'PUBLISH',
      },
      keys,
      LIMITS,
    );
    const writeKeys = keys.writeKeys(taskId);
    commands.push(
      resp(['EVALSHA', SCRIPTS.append.sha, String(writeKeys.length), ...writeKeys, ...args.map(String)]),
    );
  }
  await store.close();
  await admin.script('LOAD', SCRIPTS.append.lua);
  await admin.config('RESETSTAT');
  const cpu = (info: string) => infoNumber(info, 'used_cpu_user') + infoNumber(info, 'used_cpu_sys');
  const cpuBefore = cpu(await admin.info('cpu'));
  const started = performance.now();
  let replies = 0;
  let stopped = false;
  const drivers = [0, 1, 2, 3].map(
    (d) =>
      new Promise<void>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port });
        let next = d;
        let inFlight = 0;
        const send = () => {
          while (!stopped && inFlight < 64) {
            socket.write(commands[next % commands.length]!);
            next += 4;
            inFlight++;
          }
          if (stopped && inFlight === 0) socket.end(resolve);
        };
        socket.on('connect', send);
        socket.on('error', reject);
        socket.on('data', (data: Buffer) => {
          if (data[0] === 0x2d) reject(new Error(data.toString()));
          for (const byte of data) {
            if (byte !== 0x0a) continue;
            inFlight--;
            replies++;
          }
          send();
        });
      }),
  );
  await sleep(seconds * 1_000);
  const repliesAtStop = replies;
  const elapsed = (performance.now() - started) / 1_000;
  const used = cpu(await admin.info('cpu')) - cpuBefore;
  stopped = true;
  await Promise.all(drivers);
  const f = (n: number) => Math.round(n).toLocaleString('en-US');
  return (
    `raw RESP, 4 x 64 in flight, EVALSHA APPEND (1 event each, no tokens), ${seconds} s: ` +
    `${f(repliesAtStop / elapsed)} calls/s, Redis CPU ${Math.round((used / elapsed) * 100)}%, ` +
    `${f(repliesAtStop / used)} calls per Redis CPU-s`
  );
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 4);
  const dir = mkdtempSync(join(tmpdir(), 'sse-rate-'));
  const port = await freePort();
  const redis = await startRedis(port, dir, false);
  const url = `redis://127.0.0.1:${port}`;
  const admin = new Redis(url);
  try {
    console.log(`${TASKS} tasks, one APPEND call in flight per task, ${seconds} s per row, events of ~200 B`);
    console.log(
      '| events/call | watching instances | history limit | APPEND calls/s | events/s | Redis CPU | ' +
        'calls per Redis CPU-s | events per Redis CPU-s | EVALSHA µs/call | B in/event | B out/event | delivered/event/watcher |',
    );
    console.log(`|${' --- |'.repeat(12)}`);
    for (const row of ROWS) console.log(`| ${await measureRow(url, admin, row, seconds)} |`);
    console.log(await saturate(url, port, admin, seconds));
  } finally {
    admin.disconnect();
    await stopRedis(redis);
    rmSync(dir, { recursive: true, force: true });
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
