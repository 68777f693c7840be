/**
 * Durable tasks under load (issue 15): N tasks through W worker processes with concurrency C,
 * every task's stream checked exact, and durability's overhead against non-durable tasks and
 * plain BullMQ jobs, side by side in one run (contenders interleaved per repeat, each on its
 * own Redis keys and queue, deleted after its run). See bench/README.md, "Durable tasks".
 *
 *   node bench/dist/bench/durable/run.js [--tasks 1000] [--workers 3] [--concurrency 10]
 *     [--repeats 2] [--steps 5] [--window N] [--only plain-bullmq,durable,...] [--out FILE.md]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { procStatusBytes } from '../common';
import { type Child, cpuMs, goAndWait, startChild, stopChild } from './children';
import { type DoneMessage, percentile, type RunEnv } from './shared';

const CONTENDERS = ['plain-bullmq', 'durable', 'durable-checkpoint', 'non-durable'] as const;
type Contender = (typeof CONTENDERS)[number];

const DESCRIPTIONS: Record<Contender, string> = {
  'plain-bullmq':
    'BullMQ Worker per process, job = `updateProgress` x steps; producer: `queue.add` + QueueEvents',
  durable:
    'library worker per process (`durable`), handler `ctx.emit` x steps; producer: `start(..., { durable: true })` + `stream()`',
  'durable-checkpoint': 'as durable, each step `ctx.checkpoint(state, data)` instead of `emit`',
  'non-durable':
    'each process starts and runs its share (no `durable`, in-flight cap = concurrency) and reads it with `stream()`',
};

interface Args {
  tasks: number;
  workers: number;
  concurrency: number;
  repeats: number;
  steps: number;
  window: number;
  only: Contender[];
  out: string | undefined;
}

interface RunResult {
  contender: Contender;
  repeat: number;
  tasksPerSecond: number;
  /** p50 of how long the start call (`tasks.start` / `queue.add`) took. */
  startCallP50: number;
  firstP50: number;
  firstP99: number;
  endP99: number;
  /** Peak RSS (VmHWM) of the worker processes (non-durable: the runners), MB: the largest. */
  workerPeakRssMb: number;
  /** CPU of all the contender's processes over the run (go → all done), ms per task. */
  cpuMsPerTask: number;
  /** Redis's CPU (INFO cpu) over the run, ms per task: the shared server, so other work is in it too. */
  redisCpuMsPerTask: number;
  exact: number;
  problems: string[];
}

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const READY_TIMEOUT_MS = 60_000;
const RUN_TIMEOUT_MS = 600_000;

function parseArgs(argv: string[]): Args {
  const value = (name: string): string | undefined => {
    const at = argv.indexOf(`--${name}`);
    return at >= 0 ? argv[at + 1] : undefined;
  };
  const int = (name: string, fallback: number): number => {
    const raw = value(name);
    const n = raw === undefined ? fallback : Number(raw);
    if (!Number.isSafeInteger(n) || n < 1)
      throw new Error(`--${name} must be a positive integer, got ${raw}`);
    return n;
  };
  const workers = int('workers', 3);
  const concurrency = int('concurrency', 10);
  const only = (value('only')?.split(',') ?? [...CONTENDERS]) as Contender[];
  for (const name of only) {
    if (!CONTENDERS.includes(name))
      throw new Error(`--only: unknown contender ${name} (${CONTENDERS.join(', ')})`);
  }
  return {
    tasks: int('tasks', 1_000),
    workers,
    concurrency,
    repeats: int('repeats', 2),
    steps: int('steps', 5),
    window: int('window', workers * concurrency),
    only,
    out: value('out'),
  };
}

/** Redis's user + system CPU so far, ms (`INFO cpu`). */
async function redisCpuMs(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string): number =>
    Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1000;
}

/** Deletes every key under `pattern` (SCAN + UNLINK). */
async function deleteKeys(redis: Redis, pattern: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}

/** One contender's run: fresh processes, fresh keys, deleted after. */
async function runOne(
  contender: Contender,
  repeat: number,
  args: Args,
  runId: string,
  redis: Redis,
): Promise<RunResult> {
  const base = `ssebench-durable:${runId}:r${repeat}:${contender}`;
  const env: RunEnv = {
    REDIS_URL,
    BENCH_KEY_PREFIX: `${base}:store:`,
    BENCH_BULL_PREFIX: `${base}:bull`,
    BENCH_QUEUE: 'bench',
    BENCH_CONCURRENCY: String(args.concurrency),
    BENCH_STEPS: String(args.steps),
    BENCH_CHECKPOINT: contender === 'durable-checkpoint' ? '1' : '0',
  };
  const workers: Child[] = [];
  const starters: Child[] = [];
  try {
    for (let w = 0; w < args.workers; w++) {
      const name = `${contender} #${w + 1}`;
      if (contender === 'plain-bullmq') workers.push(startChild(name, 'plain-worker.js', [], { ...env }));
      else if (contender === 'non-durable')
        workers.push(startChild(name, 'lib-starter.js', ['runner'], { ...env }));
      else workers.push(startChild(name, 'lib-worker.js', [], { ...env }));
    }
    // Non-durable tasks run where they are started: the runners are the workers.
    if (contender === 'non-durable') starters.push(...workers);
    else if (contender === 'plain-bullmq')
      starters.push(startChild(`${contender} producer`, 'plain-producer.js', [], { ...env }));
    else starters.push(startChild(`${contender} producer`, 'lib-starter.js', ['producer'], { ...env }));
    const all = [...new Set([...workers, ...starters])];
    await Promise.all(all.map((child) => child.next('ready', READY_TIMEOUT_MS)));

    const cpuBefore = all.reduce((sum, child) => sum + cpuMs(child.process.pid), 0);
    const redisBefore = await redisCpuMs(redis);
    const shares = starters.map(
      (_, k) => Math.floor(args.tasks / starters.length) + (k < args.tasks % starters.length ? 1 : 0),
    );
    const window = contender === 'non-durable' ? args.concurrency : args.window;
    let firstTask = 0;
    const done: DoneMessage[] = await Promise.all(
      starters.map((child, k) => {
        const go = { type: 'go' as const, tasks: shares[k]!, window, steps: args.steps, firstTask };
        firstTask += shares[k]!;
        return goAndWait(child, go, RUN_TIMEOUT_MS);
      }),
    );
    const cpuAfter = all.reduce((sum, child) => sum + cpuMs(child.process.pid), 0);
    const redisAfter = await redisCpuMs(redis);
    const peakRss = Math.max(...workers.map((child) => procStatusBytes(child.process.pid!, 'VmHWM')));

    const records = done.flatMap((message) => message.records);
    const wallMs = Math.max(...done.map((m) => m.endedAt)) - Math.min(...done.map((m) => m.startedAt));
    const problems = records
      .filter((record) => record.problem !== undefined)
      .map((record) => record.problem!);
    return {
      contender,
      repeat,
      tasksPerSecond: records.length / (wallMs / 1000),
      startCallP50: percentile(
        records.map((r) => r.startCallMs),
        50,
      ),
      firstP50: percentile(
        records.map((r) => r.firstEventMs),
        50,
      ),
      firstP99: percentile(
        records.map((r) => r.firstEventMs),
        99,
      ),
      endP99: percentile(
        records.map((r) => r.endMs),
        99,
      ),
      workerPeakRssMb: peakRss / 1024 / 1024,
      cpuMsPerTask: (cpuAfter - cpuBefore) / records.length,
      redisCpuMsPerTask: (redisAfter - redisBefore) / records.length,
      exact: records.length - problems.length,
      problems: problems.slice(0, 5),
    };
  } finally {
    await Promise.all([...new Set([...workers, ...starters])].map((child) => stopChild(child)));
    await deleteKeys(redis, `${base}:*`);
  }
}

/** The median (the mean of the middle two for an even count); NaN when empty. */
function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const fixed = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

function table(args: Args, results: RunResult[]): string {
  const rows = args.only.map((contender) => {
    const runs = results.filter((r) => r.contender === contender);
    const m = (pick: (r: RunResult) => number): number => median(runs.map(pick));
    const exact = runs.reduce((sum, r) => sum + r.exact, 0);
    return {
      contender,
      tasksPerSecond: m((r) => r.tasksPerSecond),
      startCall: m((r) => r.startCallP50),
      firstP50: m((r) => r.firstP50),
      firstP99: m((r) => r.firstP99),
      endP99: m((r) => r.endP99),
      rss: m((r) => r.workerPeakRssMb),
      cpu: m((r) => r.cpuMsPerTask),
      redisCpu: m((r) => r.redisCpuMsPerTask),
      exact: `${exact} / ${runs.length * args.tasks}`,
      spread: runs.map((r) => fixed(r.tasksPerSecond, 0)).join(', '),
    };
  });
  const lines = [
    `| contender | tasks/s | (each run) | p50 start call (ms) | p50 start→first event (ms) | p99 start→first event (ms) | p99 start→end (ms) | worker peak RSS (MB) | CPU ms / task | Redis CPU ms / task | exact streams |`,
    `| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |`,
    ...rows.map(
      (row) =>
        `| ${row.contender} | ${fixed(row.tasksPerSecond, 0)} | ${row.spread} | ${fixed(row.startCall)} | ${fixed(row.firstP50)} | ${fixed(row.firstP99)} | ${fixed(row.endP99)} | ${fixed(row.rss, 0)} | ${fixed(row.cpu, 2)} | ${fixed(row.redisCpu, 2)} | ${row.exact} |`,
    ),
  ];
  const byName = new Map(rows.map((row) => [row.contender, row]));
  const ratio = (a: Contender, b: Contender): string | undefined => {
    const x = byName.get(a);
    const y = byName.get(b);
    if (!x || !y) return undefined;
    return (
      `| ${a} / ${b} | ${fixed(x.tasksPerSecond / y.tasksPerSecond, 2)}x | ${fixed(x.firstP99 / y.firstP99, 2)}x | ` +
      `${fixed(x.firstP50 / y.firstP50, 2)}x | ${fixed(x.cpu / y.cpu, 2)}x | ${fixed(x.redisCpu / y.redisCpu, 2)}x |`
    );
  };
  const ratios = [
    ratio('durable', 'non-durable'),
    ratio('durable', 'plain-bullmq'),
    ratio('durable-checkpoint', 'durable'),
    ratio('non-durable', 'plain-bullmq'),
  ].filter((line): line is string => line !== undefined);
  if (ratios.length > 0) {
    lines.push(
      '',
      '| ratio (medians) | tasks/s | p99 start→first event | p50 start→first event | CPU ms / task | Redis CPU ms / task |',
      '| --- | ---: | ---: | ---: | ---: | ---: |',
      ...ratios,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const runId = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const loadStart = loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');
  const started = new Date();
  console.log(
    `durable bench: ${args.tasks} tasks x ${args.steps} steps, ${args.workers} workers x concurrency ${args.concurrency}, ` +
      `window ${args.window}, ${args.repeats} repeat(s), contenders ${args.only.join(', ')}; load average ${loadStart}`,
  );
  const results: RunResult[] = [];
  try {
    for (let repeat = 1; repeat <= args.repeats; repeat++) {
      // Rotate the order each repeat, so drift hits every contender alike.
      const order = args.only.map((_, k) => args.only[(k + repeat - 1) % args.only.length]!);
      for (const contender of order) {
        const result = await runOne(contender, repeat, args, runId, redis);
        results.push(result);
        console.log(
          `  repeat ${repeat} ${contender}: ${fixed(result.tasksPerSecond, 0)} tasks/s, first event p50 ${fixed(result.firstP50)} ` +
            `p99 ${fixed(result.firstP99)} ms, end p99 ${fixed(result.endP99)} ms, exact ${result.exact}/${args.tasks}` +
            (result.problems.length > 0 ? `, e.g. ${result.problems[0]}` : ''),
        );
      }
    }
  } finally {
    redis.disconnect();
  }
  const loadEnd = loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');
  const markdown = [
    `Command: \`node bench/dist/bench/durable/run.js ${process.argv.slice(2).join(' ')}\``.replace(
      / `$/,
      '`',
    ),
    `Date: ${started.toISOString()}; load average at start ${loadStart}, at end ${loadEnd}; medians over ${args.repeats} repeat(s).`,
    `${args.tasks} tasks x ${args.steps} progress events; ${args.workers} worker processes x concurrency ${args.concurrency}; ` +
      `closed loop, at most ${args.window} tasks in flight (non-durable: ${args.concurrency} per process).`,
    '',
    table(args, results),
    '',
    ...args.only.map((contender) => `- ${contender}: ${DESCRIPTIONS[contender]}`),
  ].join('\n');
  console.log(`\n${markdown}\n`);
  const dir = join(__dirname, '..', '..', 'results');
  mkdirSync(dir, { recursive: true });
  const json = join(dir, `${started.toISOString().replace(/[:.]/g, '-')}-durable.json`);
  writeFileSync(json, JSON.stringify({ args, loadStart, loadEnd, results }, null, 2));
  if (args.out) writeFileSync(args.out, `${markdown}\n`);
  console.log(`results: ${json}`);
  if (results.some((r) => r.exact < args.tasks)) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
