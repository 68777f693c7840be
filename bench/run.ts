/**
 * `npm run bench` / `npm run bench:quick`: starts each contender as its own server process,
 * drives it from a separate client process over loopback with the same workload, and
 * prints markdown tables of medians over the repeats.
 *
 * node bench/dist/bench/run.js [--profile quick|full] [--repeats N] [--only raw,lib-memory]
 *   [--workloads a,b] [--timeout MS] [--budget-min N] [--cpu-prof NAME] [--out FILE.md]
 *   [--client | --no-client]  (the client section, client-parse/run.ts: by default in a full,
 *   unfiltered run)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import {
  type RedisClusterHandle,
  redisClusterUnavailable,
  startRedisCluster,
} from '../libs/sse-resume/src/testing/redis-cluster';
import type { ClientJob, ClientResult, StormSummary } from './client';
import { clockMs, EXIT_UNSUPPORTED, histogramSummary, procStatusBytes, type ServerStats } from './common';
import {
  BASELINE,
  type Contender,
  CONTENDERS,
  type Profile,
  PROFILES,
  TARGETS,
  type Workload,
} from './contenders';

const HERE = __dirname; // bench/dist/bench
const CLIENT = join(HERE, 'client.js');
const OUT_DIR = resolve(HERE, '..');
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

interface Options {
  profileName: 'quick' | 'full';
  profile: Profile;
  only: Set<string> | undefined;
  workloads: Set<string> | undefined;
  cpuProf: string | undefined;
  out: string | undefined;
  /** Also run the client's parse-and-dispatch bench (`npm run bench:client`) and append its section. */
  client: boolean;
}

interface RunRecord {
  contender: string;
  workload: string;
  repeat: number;
  /** 'ok' | 'failed' | 'n/a' */
  outcome: 'ok' | 'failed' | 'n/a';
  reason?: string;
  result?: ClientResult;
  peakRss: number;
  startMs: number;
}

function parseArgs(argv: string[]): Options {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const profileName = (value('--profile') ?? 'full') as 'quick' | 'full';
  const base = PROFILES[profileName];
  if (!base) throw new Error(`unknown profile ${profileName} (quick, full)`);
  const profile: Profile = {
    ...base,
    repeats: Number(value('--repeats') ?? base.repeats),
    timeoutMs: Number(value('--timeout') ?? base.timeoutMs),
    budgetMs: value('--budget-min') ? Number(value('--budget-min')) * 60_000 : base.budgetMs,
  };
  const list = (name: string) => (value(name) ? new Set(value(name)!.split(',')) : undefined);
  return {
    profileName,
    profile,
    only: list('--only'),
    workloads: list('--workloads'),
    cpuProf: value('--cpu-prof'),
    out: value('--out'),
    client:
      argv.includes('--client') ||
      (profileName === 'full' && !argv.includes('--no-client') && !value('--only') && !value('--workloads')),
  };
}

async function redisAvailable(): Promise<string | undefined> {
  const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
    return undefined;
  } catch (err) {
    return `no Redis at ${REDIS_URL} (${err instanceof Error ? err.message : String(err)})`;
  } finally {
    client.disconnect();
  }
}

/**
 * The private Redis Cluster of the cluster contenders (the tests' harness): one for the whole
 * bench, started only when such a contender is selected; or why there is none.
 */
async function startClusterFor(
  contenders: readonly Contender[],
): Promise<RedisClusterHandle | string | undefined> {
  if (!contenders.some((c) => c.redisCluster)) return undefined;
  const problem = redisClusterUnavailable();
  if (problem !== undefined) return `no Redis Cluster: ${problem}`;
  try {
    const started = Date.now();
    const cluster = await startRedisCluster();
    process.stdout.write(
      `Redis Cluster (3 primaries, 3 replicas) ${cluster.seeds} ready in ${Date.now() - started} ms\n`,
    );
    return cluster;
  } catch (err) {
    return `no Redis Cluster: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`;
  }
}

async function deleteKeys(pattern: string): Promise<number> {
  const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0 });
  client.on('error', () => undefined);
  let deleted = 0;
  try {
    await client.connect();
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await client.del(...keys);
    } while (cursor !== '0');
  } catch {
    // best effort
  } finally {
    client.disconnect();
  }
  return deleted;
}

interface Started {
  child: ChildProcess;
  port: number;
  stderr: () => string;
}

/** Servers running now: killed when the bench is interrupted (see main). */
const runningServers = new Set<ChildProcess>();

/**
 * Spawns `node args…` through `/bin/sh -c 'ulimit -n <hard limit>; exec …'`: Node cannot raise its
 * own open-files limit, and servers and clients of (e)–(g) hold over 10 000 sockets each.
 * Each reports its limit (`fdLimit` in `/stats` and in the client's result).
 */
function spawnNode(args: string[], options: Parameters<typeof spawn>[2]): ChildProcess {
  return spawn(
    '/bin/sh',
    ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', 'sh', process.execPath, ...args],
    options,
  );
}

function startServer(
  contender: Contender,
  env: NodeJS.ProcessEnv,
  nodeFlags: string[],
): Promise<Started | { unsupported: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawnNode([...nodeFlags, join(HERE, contender.entry), ...(contender.args ?? [])], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    runningServers.add(child);
    child.once('exit', () => runningServers.delete(child));
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${contender.name} did not start in 30 s: ${err.slice(-500)}`));
    }, 30_000);
    child.stderr!.on('data', (chunk: Buffer) => {
      err = (err + chunk.toString()).slice(-4000);
    });
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const listening = /BENCH_LISTENING (\d+)/.exec(out);
      if (listening) {
        clearTimeout(timer);
        resolvePromise({ child, port: Number(listening[1]), stderr: () => err });
      }
      const unsupported = /BENCH_UNSUPPORTED (.*)/.exec(out);
      if (unsupported) {
        clearTimeout(timer);
        resolvePromise({ unsupported: unsupported[1]! });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === EXIT_UNSUPPORTED) {
        resolvePromise({ unsupported: /BENCH_UNSUPPORTED (.*)/.exec(out)?.[1] ?? 'unsupported' });
      } else {
        reject(new Error(`${contender.name} exited (${code}) before listening: ${err.slice(-800)}`));
      }
    });
  });
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

interface ClientProcess {
  child: ChildProcess;
  /** Resolves when the client prints `BENCH_CONNECTED` (periodic / storm). */
  connected: Promise<void>;
  result: Promise<ClientResult>;
}

function startClient(job: ClientJob): ClientProcess {
  const child = spawnNode([CLIENT, JSON.stringify(job)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let onConnected: () => void = () => undefined;
  const connected = new Promise<void>((resolvePromise) => (onConnected = resolvePromise));
  const result = new Promise<ClientResult>((resolvePromise, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), job.timeoutMs + 60_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('BENCH_CONNECTED')) onConnected();
    });
    child.stderr!.on('data', (chunk: Buffer) => (err = (err + chunk.toString()).slice(-2000)));
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const line = /BENCH_RESULT (.*)/.exec(out);
      if (line) resolvePromise(JSON.parse(line[1]!) as ClientResult);
      else reject(new Error(`client exited (${code ?? signal}) without a result: ${err.slice(-500)}`));
    });
  });
  result.then(onConnected, onConnected); // a client that fails early does not keep the others waiting
  return { child, connected, result };
}

function runClient(job: ClientJob): Promise<ClientResult> {
  return startClient(job).result;
}

/** Runs of this bench so far: each run's clients take fresh source addresses (TIME_WAIT of the last ones). */
let runSequence = 0;

/** Source address of client process `p` of the current run: 127.<run>.<p>.2 (all of 127/8 is loopback). */
function localAddressOf(p: number): string {
  return `127.${(runSequence % 250) + 1}.${p}.2`;
}

async function control(port: number, method: 'GET' | 'POST', path: string): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { method });
  const body = await response.text();
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${body.slice(0, 200)}`);
  return body;
}

async function serverStatsOf(port: number): Promise<ServerStats> {
  return JSON.parse(await control(port, 'GET', '/stats')) as ServerStats;
}

async function waitOpen(port: number, n: number, deadline: number): Promise<void> {
  for (;;) {
    const response = await fetch(`http://127.0.0.1:${port}/ready?n=${n}`);
    await response.text();
    if (response.ok) return;
    if (Date.now() > deadline) throw new Error(`not ready for ${n} streams in time`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * (f) / (g): `workload.clients` client processes share the streams (each its own source address);
 * once all are connected and the server counts every stream open, the harness starts the
 * server's periodic emitter (`POST /emit-periodic`), for (g) sends `cut` to every client after
 * `cutAfterMs`, and merges the clients' results (sums, latency histograms, storm timings).
 */
async function runClientGroup(workload: Workload, port: number, timeoutMs: number): Promise<ClientResult> {
  const processes = workload.clients ?? 1;
  const deadline = Date.now() + timeoutMs;
  const clients: ClientProcess[] = [];
  let offset = 0;
  for (let p = 0; p < processes; p++) {
    const share =
      Math.floor(workload.subscribers / processes) + (p < workload.subscribers % processes ? 1 : 0);
    clients.push(
      startClient({
        port,
        mode: workload.mode,
        subscribers: share,
        events: workload.events,
        size: workload.size,
        timeoutMs,
        tasks: workload.tasks,
        offset,
        localAddress: localAddressOf(p),
      }),
    );
    offset += share;
  }
  try {
    await Promise.all(clients.map((c) => c.connected));
    await waitOpen(port, workload.subscribers, deadline);
    const before = await serverStatsOf(port);
    const t0 = clockMs();
    const query = `tasks=${workload.tasks ?? 1}&rate=${workload.rate ?? 10}&seconds=${workload.seconds ?? 10}&size=${workload.size}`;
    const emitted = control(port, 'POST', `/emit-periodic?${query}`);
    emitted.catch(() => undefined);
    let rssBeforeCut: number | undefined;
    if (workload.mode === 'storm') {
      await new Promise((r) => setTimeout(r, workload.cutAfterMs ?? 5_000));
      rssBeforeCut = (await serverStatsOf(port)).rss;
      for (const c of clients) c.child.stdin!.write('cut\n');
    }
    const results = await Promise.all(clients.map((c) => c.result));
    const after = await serverStatsOf(port);
    await emitted.catch(() => undefined);
    return mergeResults(workload, results, { before, after, t0, rssBeforeCut });
  } finally {
    for (const c of clients) if (c.child.exitCode === null) c.child.kill('SIGKILL');
  }
}

function mergeResults(
  workload: Workload,
  results: ClientResult[],
  server: { before: ServerStats; after: ServerStats; t0: number; rssBeforeCut: number | undefined },
): ClientResult {
  const sum = (pick: (r: ClientResult) => number | undefined) =>
    results.reduce((a, r) => a + (pick(r) ?? 0), 0);
  const endAt = Math.max(...results.map((r) => r.endAt ?? clockMs()));
  const wallMs = endAt - server.t0;
  const delivered = sum((r) => r.delivered);
  const bytes = sum((r) => r.bytes);
  const storms = results.map((r) => r.storm).filter((s): s is StormSummary => s !== undefined);
  const storm: StormSummary | undefined =
    workload.mode === 'storm'
      ? {
          reconnectMs: storms.flatMap((s) => s.reconnectMs).sort((a, b) => a - b),
          liveMs: storms.flatMap((s) => s.liveMs).sort((a, b) => a - b),
          refusals: storms.reduce<Record<string, number>>((all, s) => {
            for (const [k, v] of Object.entries(s.refusals)) all[k] = (all[k] ?? 0) + v;
            return all;
          }, {}),
          connectErrors: storms.reduce((a, s) => a + s.connectErrors, 0),
          headTimeouts: storms.reduce((a, s) => a + s.headTimeouts, 0),
        }
      : undefined;
  const serverCpuMs =
    (server.after.cpuUserUs +
      server.after.cpuSystemUs -
      server.before.cpuUserUs -
      server.before.cpuSystemUs) /
    1000;
  const failed = results.filter((r) => !r.ok);
  return {
    ok: failed.length === 0,
    ...(failed.length
      ? {
          error: failed
            .map((r) => r.error)
            .filter(Boolean)
            .join('; '),
        }
      : {}),
    mode: workload.mode,
    subscribers: workload.subscribers,
    events: workload.events,
    delivered,
    wallMs,
    eventsPerSec: wallMs > 0 ? delivered / (wallMs / 1000) : 0,
    bytes,
    mbPerSec: wallMs > 0 ? bytes / 1e6 / (wallMs / 1000) : 0,
    latency: histogramSummary(results.map((r) => r.histogram ?? {})),
    serverCpuMs,
    clientCpuMs: sum((r) => r.clientCpuMs),
    expected: sum((r) => r.expected),
    duplicates: sum((r) => r.duplicates),
    gaps: sum((r) => r.gaps),
    ...(storm ? { storm } : {}),
    ...(server.rssBeforeCut !== undefined ? { serverRssBeforeCut: server.rssBeforeCut } : {}),
    serverFdLimit: server.after.fdLimit,
    fdLimit: Math.min(...results.map((r) => r.fdLimit ?? 0)),
    problems: results.flatMap((r) => r.problems).slice(0, 12),
  };
}

function appliesTo(workload: Workload, contender: string): boolean {
  return !workload.contenders || workload.contenders.includes(contender);
}

function progressLine(r: ClientResult): string {
  if (r.mode === 'idle') return `${fmt((r.idle?.rssPerSubscriber ?? NaN) / 1024, 2)} KiB/subscriber`;
  const base = `${fmt(r.eventsPerSec)} events/s, ${fmt(r.wallMs)} ms${r.latency ? `, p99 ${fmt(r.latency.p99, 1)} ms` : ''}`;
  if (r.mode === 'periodic')
    return `${base}, lost ${fmt((r.expected ?? 0) - r.delivered)}, server CPU ${fmt(r.serverCpuMs)} ms`;
  if (r.mode === 'storm' && r.storm) {
    const last = (a: number[]) => a[a.length - 1] ?? NaN;
    return `all reconnected in ${fmt(last(r.storm.reconnectMs))} ms, all live in ${fmt(last(r.storm.liveMs))} ms, gaps ${r.gaps ?? 0}, duplicates ${r.duplicates ?? 0}, refusals ${JSON.stringify(r.storm.refusals)}, connect errors ${r.storm.connectErrors}, head timeouts ${r.storm.headTimeouts}`;
  }
  return base;
}

async function runOnce(
  contender: Contender,
  workload: Workload,
  repeat: number,
  options: Options,
  runId: string,
  profileDir: string,
  cluster: RedisClusterHandle | undefined,
): Promise<RunRecord> {
  const record: RunRecord = {
    contender: contender.name,
    workload: workload.id,
    repeat,
    outcome: 'failed',
    peakRss: 0,
    startMs: Date.now(),
  };
  const keyPrefix = `${runId}:${contender.name}:${workload.id}:${repeat}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: '0',
    BENCH_KEY_PREFIX: keyPrefix,
    NODE_ENV: 'production',
  };
  delete env.REDIS_URL;
  delete env.REDIS_CLUSTER_NODES;
  if (contender.redis) env.REDIS_URL = REDIS_URL;
  if (contender.redisCluster) {
    if (!cluster) throw new Error(`${contender.name} needs the Redis Cluster`);
    env.REDIS_CLUSTER_NODES = cluster.seeds;
  }
  Object.assign(env, contender.env);
  const nodeFlags = ['--expose-gc'];
  if (options.cpuProf === contender.name) {
    nodeFlags.push(
      '--cpu-prof',
      `--cpu-prof-dir=${profileDir}`,
      `--cpu-prof-name=${contender.name}-${workload.id}-${repeat}.cpuprofile`,
    );
  }
  let started: Started | { unsupported: string };
  try {
    started = await startServer(contender, env, nodeFlags);
  } catch (err) {
    record.reason = err instanceof Error ? err.message : String(err);
    return record;
  }
  if ('unsupported' in started) {
    record.outcome = 'n/a';
    record.reason = started.unsupported;
    return record;
  }
  runSequence++;
  try {
    const result =
      workload.mode === 'periodic' || workload.mode === 'storm'
        ? await runClientGroup(workload, started.port, options.profile.timeoutMs)
        : await runClient({
            port: started.port,
            mode: workload.mode,
            subscribers: workload.subscribers,
            events: workload.events,
            size: workload.size,
            timeoutMs: options.profile.timeoutMs,
            ...(workload.tasks ? { tasks: workload.tasks, localAddress: localAddressOf(0) } : {}),
          });
    record.result = result;
    record.peakRss = procStatusBytes(started.child.pid!, 'VmHWM');
    record.outcome = result.ok ? 'ok' : 'failed';
    if (!result.ok) record.reason = [result.error, ...result.problems].filter(Boolean).join('; ');
  } catch (err) {
    record.reason = err instanceof Error ? err.message : String(err);
  } finally {
    await stopServer(started.child);
    if (contender.redis) await deleteKeys(`${keyPrefix}*`);
    // The cluster is private to this bench: the next run starts from an empty one.
    if (contender.redisCluster) await cluster?.flushAll().catch(() => undefined);
  }
  if (record.outcome === 'failed' && started.stderr())
    record.reason += ` | server: ${started.stderr().slice(-300)}`;
  return record;
}

/** `client-parse/run.js` in its own process; its progress lines pass through, its markdown is returned. */
function runClientSection(): Promise<string> {
  const out = join(OUT_DIR, 'client-parse', 'section.md');
  return new Promise((resolvePromise) => {
    const child = spawn(
      process.execPath,
      ['--expose-gc', join(HERE, 'client-parse', 'run.js'), '--out', out],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let pending = '';
    child.stdout.on('data', (chunk: Buffer) => {
      const lines = (pending + chunk.toString()).split('\n');
      pending = lines.pop()!;
      for (const line of lines) if (line.startsWith('[')) process.stdout.write(`client: ${line}\n`);
    });
    child.on('exit', (code) => {
      try {
        resolvePromise(code === 0 ? readFileSync(out, 'utf8') : `## Client\n\nfailed (exit ${code})\n`);
      } catch (err) {
        resolvePromise(`## Client\n\nno result: ${String(err)}\n`);
      }
    });
  });
}

// ---------- aggregation and output ----------

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface Summary {
  contender: string;
  workload: string;
  runs: number;
  ok: number;
  na: string | undefined;
  failures: string[];
  eventsPerSec: number;
  mbPerSec: number;
  p50: number;
  p99: number;
  peakRssMb: number;
  serverCpuMs: number;
  clientCpuMs: number;
  rssPerSubscriber: number;
  heapPerSubscriber: number;
  connectMs: number;
  /** (f) / (g) */
  maxMs: number;
  /** Events not delivered (expected − delivered), worst run. */
  lost: number;
  duplicates: number;
  gaps: number;
  serverCpuPct: number;
  /** (g): cut → every stream reconnected / live again (median over runs of the per-run maximum). */
  reconnectAllMs: number;
  liveAllMs: number;
  liveP50Ms: number;
  refusals: Record<string, number>;
  connectErrors: number;
  headTimeouts: number;
  rssBeforeCutMb: number;
  /** Every successful run: all streams got every id once, in order. */
  exact: boolean;
  fdLimits: string;
}

function summarize(records: RunRecord[], contender: string, workload: string): Summary {
  const mine = records.filter((r) => r.contender === contender && r.workload === workload);
  const ok = mine.filter((r) => r.outcome === 'ok' && r.result);
  const withResult = mine.filter((r) => r.result);
  const m = (pick: (r: ClientResult) => number | undefined) =>
    median(
      ok.map((r) => pick(r.result!)).filter((v): v is number => typeof v === 'number' && Number.isFinite(v)),
    );
  return {
    contender,
    workload,
    runs: mine.length,
    ok: ok.length,
    na: mine.find((r) => r.outcome === 'n/a')?.reason,
    failures: mine.filter((r) => r.outcome === 'failed').map((r) => r.reason ?? 'failed'),
    eventsPerSec: m((r) => r.eventsPerSec),
    mbPerSec: m((r) => r.mbPerSec),
    p50: m((r) => r.latency?.p50),
    p99: m((r) => r.latency?.p99),
    peakRssMb: median(ok.map((r) => r.peakRss / 1024 / 1024)),
    serverCpuMs: m((r) => r.serverCpuMs),
    clientCpuMs: m((r) => r.clientCpuMs),
    rssPerSubscriber: m((r) => r.idle?.rssPerSubscriber),
    heapPerSubscriber: m((r) => r.idle?.heapPerSubscriber),
    connectMs: m((r) => r.idle?.connectMs),
    maxMs: m((r) => r.latency?.max),
    lost: Math.max(0, ...withResult.map((r) => (r.result!.expected ?? 0) - r.result!.delivered)),
    duplicates: withResult.reduce((a, r) => a + (r.result!.duplicates ?? 0), 0),
    gaps: withResult.reduce((a, r) => a + (r.result!.gaps ?? 0), 0),
    serverCpuPct: m((r) => (r.wallMs > 0 ? (100 * r.serverCpuMs) / r.wallMs : undefined)),
    reconnectAllMs: m((r) => r.storm?.reconnectMs[r.storm.reconnectMs.length - 1]),
    liveAllMs: m((r) => r.storm?.liveMs[r.storm.liveMs.length - 1]),
    liveP50Ms: m((r) => r.storm?.liveMs[r.storm.liveMs.length >> 1]),
    refusals: withResult.reduce<Record<string, number>>((all, r) => {
      for (const [k, v] of Object.entries(r.result!.storm?.refusals ?? {})) all[k] = (all[k] ?? 0) + v;
      return all;
    }, {}),
    connectErrors: withResult.reduce((a, r) => a + (r.result!.storm?.connectErrors ?? 0), 0),
    headTimeouts: withResult.reduce((a, r) => a + (r.result!.storm?.headTimeouts ?? 0), 0),
    rssBeforeCutMb: m((r) => (r.serverRssBeforeCut ?? NaN) / 1024 / 1024),
    exact:
      ok.length > 0 &&
      ok.length === mine.length &&
      withResult.every(
        (r) => r.result!.delivered === r.result!.expected && !r.result!.duplicates && !r.result!.gaps,
      ),
    fdLimits: [
      ...new Set(withResult.map((r) => `${r.result!.serverFdLimit ?? '?'}/${r.result!.fdLimit ?? '?'}`)),
    ].join(', '),
  };
}

const fmt = (value: number, digits = 0): string =>
  Number.isFinite(value)
    ? value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : '—';

function status(s: Summary): string {
  if (s.na !== undefined && s.ok === 0) return 'n/a';
  if (s.runs === 0) return 'skipped';
  return s.ok === s.runs ? `${s.ok}/${s.runs}` : `**${s.ok}/${s.runs}**`;
}

function table(workload: Workload, summaries: Summary[]): string {
  const base = summaries.find((s) => s.contender === BASELINE);
  const lines: string[] = [];
  if (workload.mode === 'idle') {
    lines.push(
      '| contender | KB / subscriber (RSS) | KB / subscriber (heap) | connect all (ms) | server CPU (ms) | peak RSS (MB) | vs raw (memory) | runs ok |',
    );
    lines.push('|---|--:|--:|--:|--:|--:|--:|--:|');
    for (const s of summaries) {
      const ratio = base ? s.rssPerSubscriber / base.rssPerSubscriber : NaN;
      lines.push(
        `| ${s.contender} | ${fmt(s.rssPerSubscriber / 1024, 2)} | ${fmt(s.heapPerSubscriber / 1024, 2)} | ${fmt(s.connectMs)} | ${fmt(s.serverCpuMs)} | ${fmt(s.peakRssMb)} | ${Number.isFinite(ratio) ? `${fmt(ratio, 2)}x` : '—'} | ${status(s)} |`,
      );
    }
    return lines.join('\n');
  }
  if (workload.mode === 'periodic') {
    lines.push(
      '| contender | events/s delivered | lost | p50 (ms) | p99 (ms) | max (ms) | server CPU (ms) | server CPU (% of a core) | client CPU (ms, all processes) | peak RSS (MB) | runs ok |',
    );
    lines.push('|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
    for (const s of summaries) {
      lines.push(
        `| ${s.contender} | ${fmt(s.eventsPerSec)} | ${fmt(s.lost)} | ${fmt(s.p50, 2)} | ${fmt(s.p99, 2)} | ${fmt(s.maxMs, 1)} | ${fmt(s.serverCpuMs)} | ${fmt(s.serverCpuPct)}% | ${fmt(s.clientCpuMs)} | ${fmt(s.peakRssMb)} | ${status(s)} |`,
      );
    }
    return lines.join('\n');
  }
  if (workload.mode === 'storm') {
    lines.push(
      '| contender | resumed exactly | all reconnected (ms) | all live again (ms) | p50 live again (ms) | refusals (429 / 503 / other) | connect errors / head timeouts (retried) | RSS before cut (MB) | peak RSS (MB) | server CPU (ms) | client CPU (ms) | runs ok |',
    );
    lines.push('|---|:-:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
    for (const s of summaries) {
      const r = s.refusals;
      lines.push(
        `| ${s.contender} | ${s.runs === 0 || s.na !== undefined ? '—' : s.exact ? 'yes' : `**no** (gaps ${fmt(s.gaps)}, duplicates ${fmt(s.duplicates)})`} | ${fmt(s.reconnectAllMs)} | ${fmt(s.liveAllMs)} | ${fmt(s.liveP50Ms)} | ${r['429'] ?? 0} / ${r['503'] ?? 0} / ${r.other ?? 0} | ${fmt(s.connectErrors)} / ${fmt(s.headTimeouts)} | ${fmt(s.rssBeforeCutMb)} | ${fmt(s.peakRssMb)} | ${fmt(s.serverCpuMs)} | ${fmt(s.clientCpuMs)} | ${status(s)} |`,
      );
    }
    return lines.join('\n');
  }
  lines.push(
    '| contender | events/s | MB/s | p50 (ms) | p99 (ms) | peak RSS (MB) | server CPU (ms) | client CPU (ms) | vs raw | runs ok |',
  );
  lines.push('|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
  for (const s of summaries) {
    const ratio = base ? s.eventsPerSec / base.eventsPerSec : NaN;
    const latency = workload.mode === 'live';
    lines.push(
      `| ${s.contender} | ${fmt(s.eventsPerSec)} | ${fmt(s.mbPerSec, 1)} | ${latency ? fmt(s.p50, 2) : '—'} | ${latency ? fmt(s.p99, 2) : '—'} | ${fmt(s.peakRssMb)} | ${fmt(s.serverCpuMs)} | ${fmt(s.clientCpuMs)} | ${Number.isFinite(ratio) ? `${fmt(ratio, 2)}x` : '—'} | ${status(s)} |`,
    );
  }
  return lines.join('\n');
}

function targetLines(all: Summary[], profileName: string): string[] {
  const get = (c: string, w: string) => all.find((s) => s.contender === c && s.workload === w);
  const ratio = (c: string, w: string, to: string) => {
    const a = get(c, w);
    const b = get(to, w);
    return a && b ? a.eventsPerSec / b.eventsPerSec : NaN;
  };
  const check = (label: string, value: number, ok: (v: number) => boolean, shown: string): string =>
    `- ${label}: ${Number.isFinite(value) ? shown : 'n/a'} → ${Number.isFinite(value) ? (ok(value) ? 'met' : '**not met**') : 'not measured'}`;
  const out = [`Targets (defined for the full profile; this run: ${profileName}):`];
  const lib = 'lib-memory';
  const a = ratio(lib, 'a', 'raw');
  out.push(check(`(a) ${lib} ≥ ${TARGETS.a.vsRaw}x raw`, a, (v) => v >= TARGETS.a.vsRaw, `${fmt(a, 2)}x`));
  const ab = ratio(lib, 'a', 'better-sse');
  out.push(
    check(
      `(a) ${lib} ≥ ${TARGETS.a.vsBetterSse}x better-sse`,
      ab,
      (v) => v >= TARGETS.a.vsBetterSse,
      `${fmt(ab, 2)}x`,
    ),
  );
  for (const [w, target] of [
    ['b', TARGETS.b.vsRaw],
    ['c', TARGETS.c.vsRaw],
    ['d', TARGETS.d.vsRaw],
  ] as const) {
    const r = ratio(lib, w, 'raw');
    out.push(check(`(${w}) ${lib} ≥ ${target}x raw`, r, (v) => v >= target, `${fmt(r, 2)}x`));
  }
  for (const [name, maxE] of Object.entries(TARGETS.e.maxBytesPerSubscriber)) {
    const e = get(name, 'e')?.rssPerSubscriber ?? NaN;
    out.push(
      check(
        `(e) ${name} ≤ ${maxE / 1024} KiB RSS per idle subscriber (100 tasks, heartbeats on)`,
        e,
        (v) => v <= maxE,
        `${fmt(e / 1024, 2)} KiB`,
      ),
    );
  }
  for (const name of TARGETS.f.contenders) {
    const f = get(name, 'f');
    const p99 = f && f.ok > 0 ? f.p99 : NaN;
    out.push(
      check(
        `(f) ${name} p99 < ${TARGETS.f.maxP99Ms} ms at 10 000 live, no loss`,
        p99,
        (v) => v < TARGETS.f.maxP99Ms && f!.lost === 0 && f!.ok === f!.runs,
        `${fmt(p99, 1)} ms, lost ${fmt(f?.lost ?? NaN)}`,
      ),
    );
  }
  for (const name of TARGETS.g.contenders) {
    const g = get(name, 'g');
    const value = g && g.runs > 0 && g.na === undefined ? g.liveAllMs : NaN;
    out.push(
      check(
        `(g) ${name} every stream resumed exactly after the storm; refusals only 429/503 with Retry-After`,
        g?.exact ? value : g && g.runs > 0 && g.na === undefined ? -1 : NaN,
        (v) => v >= 0 && (g?.refusals.other ?? 0) === 0,
        g?.exact
          ? `yes, all live again in ${fmt(value)} ms, refusals ${JSON.stringify(g.refusals)}`
          : `no (gaps ${fmt(g?.gaps ?? NaN)}, duplicates ${fmt(g?.duplicates ?? NaN)}, runs ok ${g?.ok}/${g?.runs})`,
      ),
    );
  }
  const ra = ratio('lib-redis', 'a', 'raw');
  out.push(
    check(
      `(a) lib-redis ≥ ${TARGETS.redisA.vsRaw}x raw`,
      ra,
      (v) => v >= TARGETS.redisA.vsRaw,
      `${fmt(ra, 2)}x`,
    ),
  );
  for (const redis of ['lib-redis', 'lib-redis-cluster']) {
    const b = ratio(redis, 'b', 'raw');
    out.push(
      check(
        `(b) ${redis} ≥ ${TARGETS.redisB.vsRaw}x raw`,
        b,
        (v) => v >= TARGETS.redisB.vsRaw,
        `${fmt(b, 2)}x`,
      ),
    );
    const p99 = get(redis, 'b')?.p99 ?? NaN;
    out.push(
      check(
        `(b) ${redis} p99 < ${TARGETS.redisB.maxP99Ms} ms`,
        p99,
        (v) => v < TARGETS.redisB.maxP99Ms,
        `${fmt(p99, 1)} ms`,
      ),
    );
    const d = ratio(redis, 'd', 'raw');
    out.push(
      check(
        `(d) ${redis} ≥ ${TARGETS.redisD.vsRaw}x raw`,
        d,
        (v) => v >= TARGETS.redisD.vsRaw,
        `${fmt(d, 2)}x`,
      ),
    );
    const dr = ratio(redis, 'd', 'resumable-stream');
    out.push(check(`(d) ${redis} ahead of resumable-stream`, dr, (v) => v > 1, `${fmt(dr, 2)}x`));
  }
  for (const w of ['a', 'b', 'c', 'd']) {
    const r = ratio('lib-redis', w, 'resumable-stream');
    out.push(check(`(${w}) lib-redis ahead of resumable-stream`, r, (v) => v > 1, `${fmt(r, 2)}x`));
  }
  const re =
    (get('lib-redis', 'e')?.rssPerSubscriber ?? NaN) /
    (get('resumable-stream', 'e')?.rssPerSubscriber ?? NaN);
  out.push(
    check(
      '(e) lib-redis uses less memory per subscriber than resumable-stream',
      re,
      (v) => v < 1,
      `${fmt(re, 2)}x`,
    ),
  );
  return out;
}

function machine(): string {
  const cpu = cpus();
  return [
    `- CPU: ${cpu.length} x ${cpu[0]?.model ?? 'unknown'}; RAM ${fmt(totalmem() / 1024 ** 3, 1)} GiB; Linux ${release()}`,
    `- Node ${process.version}; load average at start ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' / ')}`,
  ].join('\n');
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const { profile } = options;
  const contenders = CONTENDERS.filter((c) => !options.only || options.only.has(c.name));
  const workloads = profile.workloads.filter((w) => !options.workloads || options.workloads.has(w.id));
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const runId = `ssebench:${stamp}`;
  const profileDir = join(OUT_DIR, 'profiles', stamp);
  const redisProblem = contenders.some((c) => c.redis) ? await redisAvailable() : undefined;
  const clusterOrProblem = await startClusterFor(contenders);
  const cluster = typeof clusterOrProblem === 'object' ? clusterOrProblem : undefined;
  const clusterProblem = typeof clusterOrProblem === 'string' ? clusterOrProblem : undefined;
  if (cluster) {
    // Ctrl-C / kill: stop the server and the cluster's redis-servers, then exit (128 + signal number).
    for (const [signal, code] of [
      ['SIGINT', 130],
      ['SIGTERM', 143],
    ] as const) {
      process.once(signal, () => {
        for (const server of runningServers) server.kill('SIGKILL');
        void cluster.stop().finally(() => process.exit(code));
      });
    }
  }
  try {
    await runAll(options, contenders, workloads, {
      stamp,
      runId,
      profileDir,
      redisProblem,
      cluster,
      clusterProblem,
    });
  } finally {
    await cluster?.stop();
  }
}

interface RunContext {
  stamp: string;
  runId: string;
  profileDir: string;
  redisProblem: string | undefined;
  cluster: RedisClusterHandle | undefined;
  clusterProblem: string | undefined;
}

async function runAll(
  options: Options,
  contenders: Contender[],
  workloads: Workload[],
  { stamp, runId, profileDir, redisProblem, cluster, clusterProblem }: RunContext,
): Promise<void> {
  const { profile } = options;
  const started = Date.now();
  const records: RunRecord[] = [];
  const unsupported = new Map<string, string>();
  if (redisProblem) for (const c of contenders) if (c.redis) unsupported.set(c.name, redisProblem);
  if (clusterProblem) for (const c of contenders) if (c.redisCluster) unsupported.set(c.name, clusterProblem);

  const header = `# sse bench, ${options.profileName} profile, ${new Date().toISOString()}\n\n${machine()}\n`;
  process.stdout.write(
    `${header}\nrepeats ${profile.repeats}, per-run timeout ${profile.timeoutMs / 1000} s, budget ${profile.budgetMs / 60_000} min\n\n`,
  );

  let skipped = 0;
  for (let repeat = 1; repeat <= profile.repeats; repeat++) {
    for (const workload of workloads) {
      if (repeat > (workload.repeats ?? Infinity)) continue;
      for (const contender of contenders) {
        if (!appliesTo(workload, contender.name)) continue;
        const na = unsupported.get(contender.name);
        if (na !== undefined) {
          records.push({
            contender: contender.name,
            workload: workload.id,
            repeat,
            outcome: 'n/a',
            reason: na,
            peakRss: 0,
            startMs: Date.now(),
          });
          continue;
        }
        if (Date.now() - started > profile.budgetMs) {
          skipped++;
          continue;
        }
        const record = await runOnce(contender, workload, repeat, options, runId, profileDir, cluster);
        records.push(record);
        if (record.outcome === 'n/a') unsupported.set(contender.name, record.reason ?? 'n/a');
        const r = record.result;
        const line =
          record.outcome === 'ok' && r
            ? progressLine(r)
            : `${record.outcome}: ${record.reason ?? ''}`.slice(0, 300);
        process.stdout.write(
          `[${fmt((Date.now() - started) / 1000)} s] ${workload.id} #${repeat} ${contender.name}: ${line}\n`,
        );
      }
    }
  }

  const all: Summary[] = [];
  const sections: string[] = [header];
  for (const workload of workloads) {
    const summaries = contenders
      .filter((c) => appliesTo(workload, c.name))
      .map((c) => summarize(records, c.name, workload.id));
    all.push(...summaries);
    sections.push(`## (${workload.id}) ${workload.title}\n\n${table(workload, summaries)}\n`);
  }
  const notes: string[] = [];
  for (const s of all) {
    if (s.na !== undefined && s.ok === 0 && s.workload === workloads[0]?.id)
      notes.push(`- ${s.contender}: n/a — ${s.na}`);
    for (const f of s.failures.slice(0, 2))
      notes.push(`- ${s.contender} (${s.workload}) failed: ${f.slice(0, 400)}`);
    for (const r of records) {
      if (r.contender !== s.contender || r.workload !== s.workload || r.outcome !== 'failed' || !r.result)
        continue;
      const { delivered, subscribers, events, eventsPerSec, wallMs } = r.result;
      if (delivered > 0) {
        notes.push(
          `  - run ${r.repeat}: ${fmt((100 * delivered) / (subscribers * events), 1)}% delivered in ${fmt(wallMs / 1000, 1)} s (${fmt(eventsPerSec)} events/s)`,
        );
      }
    }
  }
  if (skipped > 0)
    notes.push(`- ${skipped} runs skipped: the ${profile.budgetMs / 60_000}-minute budget ran out`);
  sections.push(targetLines(all, options.profileName).join('\n'));
  sections.push(
    `Contenders (how each honours Last-Event-ID / replays (d)):\n${contenders.map((c) => `- ${c.name}: ${c.resume}`).join('\n')}`,
  );
  if (notes.length > 0) sections.push(`Notes:\n${notes.join('\n')}`);
  sections.push(
    `Medians over ${profile.repeats} repeat(s)${workloads
      .filter((w) => (w.repeats ?? Infinity) < profile.repeats)
      .map((w) => `, (${w.id}) ${w.repeats}`)
      .join('')}; "vs raw" = events/s ÷ raw's in this run ((e): RSS per subscriber ÷ raw's). ` +
      `Total ${fmt((Date.now() - started) / 1000)} s.`,
  );
  if (options.client) sections.push(await runClientSection());
  const markdown = sections.join('\n\n') + '\n';
  process.stdout.write(`\n${markdown}`);

  mkdirSync(join(OUT_DIR, 'results'), { recursive: true });
  const jsonPath = join(OUT_DIR, 'results', `${stamp}-${options.profileName}.json`);
  writeFileSync(
    jsonPath,
    JSON.stringify(
      { options: { ...options, only: undefined, workloads: undefined }, records, summaries: all },
      null,
      2,
    ),
  );
  if (options.out) writeFileSync(options.out, markdown);
  process.stdout.write(`\nraw results: ${jsonPath}\n`);
  if (options.cpuProf)
    process.stdout.write(
      `cpu profiles: ${profileDir} (node bench/dist/bench/profile-summary.js ${profileDir})\n`,
    );
  await deleteKeys(`${runId}*`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
