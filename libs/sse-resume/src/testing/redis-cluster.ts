import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';

/**
 * A private Redis Cluster for tests and the benchmark: `redis-server` processes on free
 * loopback ports, children of this process, joined with `redis-cli --cluster create`.
 * Node built-ins, ioredis and the store's keySlot: bench/run.ts imports this file by relative path.
 */

const HOST = '127.0.0.1';
const SLOTS = 16_384;
/** Redis Cluster's bus listens on the client port + 10 000. */
const BUS_PORT_OFFSET = 10_000;
/** Client ports stay below this, so that the bus port is a valid port too. */
const MAX_CLIENT_PORT = 55_535;
const NODE_START_TIMEOUT_MS = 10_000;
const CREATE_TIMEOUT_MS = 30_000;
const CONVERGE_TIMEOUT_MS = 20_000;
const COMMAND_TIMEOUT_MS = 1_000;
const POLL_MS = 50;
const LOG_TAIL_CHARS = 3_000;
const START_ATTEMPTS = 3;

export interface RedisClusterOptions {
  /** `cluster-node-timeout`: how long a node may be unreachable before it counts as failed. Default 1000 ms. */
  nodeTimeoutMs?: number;
  /** Primaries (Redis Cluster needs at least 3). Default 3. */
  masters?: number;
  /** Replicas of each primary. Default 1 (so 6 processes). */
  replicasPerMaster?: number;
}

/** One `redis-server` process the harness started. */
export interface ClusterNode {
  host: string;
  port: number;
  pid: number;
  /** Its own temporary directory (`nodes.conf`); removed by `stop()`. */
  dir: string;
}

/** A primary as the cluster sees it now. */
export interface ClusterPrimary extends ClusterNode {
  /** Inclusive slot ranges `[first, last]` it serves. */
  slots: Array<[number, number]>;
  replicas: ClusterNode[];
}

export interface KilledPrimary {
  killed: ClusterNode;
  /** Its replica that takes over (with several replicas: the first listed; any of them may win). */
  replica: ClusterNode | undefined;
}

export interface MigratedSlot {
  slot: number;
  from: ClusterNode;
  to: ClusterNode;
}

export interface RedisClusterHandle {
  /** Every process started, primaries and replicas, killed ones included. */
  readonly nodes: readonly ClusterNode[];
  /** `'127.0.0.1:p1,127.0.0.1:p2,…'`, every node: the value of `REDIS_CLUSTER_NODES`. */
  readonly seeds: string;
  readonly nodeTimeoutMs: number;
  /** The primaries now, with their slots and replicas (from `CLUSTER SLOTS` of a live node). */
  primaries(): Promise<ClusterPrimary[]>;
  /** The node that serves `key`'s slot now (hash tags honoured). */
  primaryForKey(key: string): Promise<ClusterNode>;
  /** SIGKILL (by PID) to the primary serving `key`; resolves once the process is gone. */
  killPrimaryForKey(key: string): Promise<KilledPrimary>;
  /**
   * Resolves once `key`'s slot is served by a live primary other than a killed one and every
   * live node reports `cluster_state:ok` and agrees on that primary. Returns the ms since the
   * kill of that slot's primary ({@link killPrimaryForKey}), or since the call if there was none.
   * Rejects after `timeoutMs` (default 15 000) with what each node reported last.
   */
  waitForFailover(key: string, timeoutMs?: number): Promise<number>;
  /**
   * `INFO commandstats` calls summed over the live primaries, by command (`get`, `evalsha`,
   * `spublish`, `cluster|slots`, …). The harness's own `cluster|*`, `info`, `ping` and
   * `config|*` calls are counted too.
   */
  commandStats(): Promise<Record<string, number>>;
  /** `CONFIG RESETSTAT` on every live node. */
  resetStats(): Promise<void>;
  /** `FLUSHALL` on every live primary (the cluster is private, so that is every key). */
  flushAll(): Promise<void>;
  /**
   * Moves `key`'s slot, with its keys, to another live primary (the next one by slots), as a
   * resharding does: IMPORTING/MIGRATING, `MIGRATE` of its keys, then `SETSLOT … NODE` on
   * every primary. Resolves once every live node agrees on the new owner.
   */
  migrateSlotOf(key: string): Promise<MigratedSlot>;
  /** SIGKILL to every process still running, then removes the temporary directories. Idempotent. */
  stop(): Promise<void>;
}

/** A binary on PATH or in the usual places; `undefined` when not installed. */
function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/bin', '/usr/local/bin'];
  return dirs.map((dir) => join(dir, name)).find((path) => existsSync(path));
}

/** Why a cluster cannot be started here (`redis-server` or `redis-cli` missing), or `undefined`. */
export function redisClusterUnavailable(): string | undefined {
  const missing = ['redis-server', 'redis-cli'].filter((name) => findBinary(name) === undefined);
  return missing.length === 0
    ? undefined
    : `${missing.join(' and ')} not installed (apt-get install -y redis-server)`;
}

import { keySlot } from '../stores/redis/redis-keyspace';

export { keySlot };

/**
 * Starts a Redis Cluster of `masters` primaries with `replicasPerMaster` replicas each, and
 * resolves once every node reports `cluster_state:ok`, knows every other node, all 16 384
 * slots are served and every replica is in sync with its primary. Takes about 2–4 s.
 * Throws (with the nodes' log tails) if a node does not start within 10 s or the creation
 * fails; whatever was started is cleaned up then.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisClusterHandle> {
  const settings = {
    nodeTimeoutMs: options.nodeTimeoutMs ?? 1_000,
    masters: options.masters ?? 3,
    replicasPerMaster: options.replicasPerMaster ?? 1,
  };
  if (!Number.isInteger(settings.masters) || settings.masters < 3) {
    throw new Error(`a Redis Cluster needs at least 3 primaries (masters: ${settings.masters})`);
  }
  if (!Number.isInteger(settings.replicasPerMaster) || settings.replicasPerMaster < 0) {
    throw new Error(`replicasPerMaster must be an integer >= 0 (got ${settings.replicasPerMaster})`);
  }
  const problem = redisClusterUnavailable();
  if (problem !== undefined) throw new Error(`cannot start a Redis Cluster: ${problem}`);

  let lastError: unknown;
  for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
    const cluster = new PrivateRedisCluster(settings);
    try {
      await cluster.start();
      return cluster;
    } catch (error) {
      await cluster.stop();
      lastError = error;
      // A free port taken between asking and binding: try other ports; anything else is final.
      if (!(error instanceof Error) || !error.message.includes('Address already in use')) throw error;
    }
  }
  throw lastError;
}

interface NodeProcess extends ClusterNode {
  child: ChildProcess;
  exited: Promise<void>;
  log: () => string;
}

interface SlotRange {
  first: number;
  last: number;
  primary: number;
  replicas: number[];
}

type Settings = Required<RedisClusterOptions>;

/** Clusters of this process not stopped yet: killed on exit (see {@link killOnExit}). */
const running = new Set<PrivateRedisCluster>();
let exitHookInstalled = false;

/** `process.exit()` and a normal exit run this; a signal does not, hence the watchdog too. */
function killOnExit(cluster: PrivateRedisCluster): void {
  running.add(cluster);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const each of running) each.killNow();
  });
}

/**
 * A shell process outside our process group that waits for this process to die, then
 * SIGKILLs the nodes and removes their directories: covers a Jest worker killed by a signal,
 * which runs no exit handler. `stop()` ends it.
 */
function startWatchdog(pids: number[], dirs: string[]): ChildProcess {
  const script = [
    'parent=$1; pids=$2; shift 2',
    'while kill -0 "$parent" 2>/dev/null; do sleep 1; done',
    'for pid in $(echo "$pids" | tr , " "); do kill -9 "$pid" 2>/dev/null; done',
    'rm -rf "$@"',
  ].join('\n');
  const watchdog = spawn(
    'sh',
    ['-c', script, 'redis-cluster-watchdog', String(process.pid), pids.join(','), ...dirs],
    {
      detached: true,
      stdio: 'ignore',
    },
  );
  watchdog.on('error', () => undefined); // best effort
  watchdog.unref();
  return watchdog;
}

class PrivateRedisCluster implements RedisClusterHandle {
  nodes: ClusterNode[] = [];
  seeds = '';
  readonly nodeTimeoutMs: number;
  private processes: NodeProcess[] = [];
  private watchdog: ChildProcess | undefined;
  private readonly kills: Array<{ port: number; at: number; ranges: SlotRange[] }> = [];
  private stopping: Promise<void> | undefined;

  constructor(private readonly settings: Settings) {
    this.nodeTimeoutMs = settings.nodeTimeoutMs;
  }

  async start(): Promise<void> {
    const count = this.settings.masters * (1 + this.settings.replicasPerMaster);
    const ports = await reserveClientPorts(count);
    const server = findBinary('redis-server')!;
    killOnExit(this);
    for (const port of ports) {
      const node = spawnNode(server, port, this.settings.nodeTimeoutMs);
      this.processes.push(node);
      if (node.pid === 0) break; // spawn failed: waitUntilListening reports it
    }
    this.nodes = this.processes.map(({ host, port, pid, dir }) => ({ host, port, pid, dir }));
    this.seeds = this.nodes.map((node) => `${node.host}:${node.port}`).join(',');
    this.watchdog = startWatchdog(
      this.processes.map((node) => node.pid).filter((pid) => pid > 0),
      this.processes.map((node) => node.dir),
    );
    await Promise.all(this.processes.map((node) => waitUntilListening(node, this.logTails.bind(this))));
    await this.create();
    await this.waitUntilConverged();
  }

  private async create(): Promise<void> {
    const cli = findBinary('redis-cli')!;
    const args = ['--cluster', 'create', ...this.nodes.map((node) => `${node.host}:${node.port}`)];
    args.push('--cluster-replicas', String(this.settings.replicasPerMaster), '--cluster-yes');
    const child = spawn(cli, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (data: Buffer) => (output += data.toString()));
    child.stderr.on('data', (data: Buffer) => (output += data.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), CREATE_TIMEOUT_MS);
    const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
    clearTimeout(timer);
    // redis-cli may exit 0 after printing an [ERR] line (e.g. a node not empty).
    if (code !== 0 || output.includes('[ERR]')) {
      throw new Error(
        `redis-cli --cluster create failed (${signal ?? `exit ${code}`}):\n${tail(output)}\n${this.logTails()}`,
      );
    }
  }

  /** Every node: state ok, all nodes known, all slots served; every replica's link up. */
  private async waitUntilConverged(): Promise<void> {
    const expectedNodes = this.processes.length;
    const deadline = Date.now() + CONVERGE_TIMEOUT_MS;
    let lastProblem = '';
    for (;;) {
      const problems = await Promise.all(
        this.processes.map(async (node): Promise<string | undefined> => {
          try {
            return await onNode(node.port, async (redis) => {
              const info = parseInfo(String(await redis.call('CLUSTER', 'INFO')));
              if (info.cluster_state !== 'ok') return `cluster_state:${info.cluster_state}`;
              if (Number(info.cluster_known_nodes) !== expectedNodes) {
                return `knows ${info.cluster_known_nodes} of ${expectedNodes} nodes`;
              }
              const ranges = parseSlots(await redis.call('CLUSTER', 'SLOTS'));
              const served = ranges.reduce((sum, range) => sum + range.last - range.first + 1, 0);
              if (served !== SLOTS) return `serves ${served} slots`;
              const thin = ranges.find((range) => range.replicas.length < this.settings.replicasPerMaster);
              if (thin) return `primary ${thin.primary} has ${thin.replicas.length} replicas`;
              const replication = parseInfo(await redis.info('replication'));
              if (replication.role === 'slave' && replication.master_link_status !== 'up') {
                return `replica link ${replication.master_link_status}`;
              }
              return undefined;
            });
          } catch (error) {
            return errorText(error);
          }
        }),
      );
      const bad = problems.flatMap((problem, i) =>
        problem ? [`${this.processes[i]!.port}: ${problem}`] : [],
      );
      if (bad.length === 0) return;
      lastProblem = bad.join('; ');
      if (Date.now() > deadline) {
        throw new Error(
          `Redis Cluster not ready after ${CONVERGE_TIMEOUT_MS} ms (${lastProblem})\n${this.logTails()}`,
        );
      }
      await sleep(POLL_MS);
    }
  }

  async primaries(): Promise<ClusterPrimary[]> {
    const ranges = await this.slotRanges();
    const byPort = new Map<number, ClusterPrimary>();
    for (const range of ranges) {
      let primary = byPort.get(range.primary);
      if (!primary) {
        primary = {
          ...this.node(range.primary),
          slots: [],
          replicas: range.replicas.map((port) => this.node(port)),
        };
        byPort.set(range.primary, primary);
      }
      primary.slots.push([range.first, range.last]);
    }
    return [...byPort.values()].sort((a, b) => a.slots[0]![0] - b.slots[0]![0]);
  }

  async primaryForKey(key: string): Promise<ClusterNode> {
    return this.node(rangeOf(await this.slotRanges(), keySlot(key)).primary);
  }

  async killPrimaryForKey(key: string): Promise<KilledPrimary> {
    const ranges = await this.slotRanges();
    const range = rangeOf(ranges, keySlot(key));
    const victim = this.process(range.primary);
    if (!this.isRunning(victim)) {
      throw new Error(
        `the primary of slot ${range.first}-${range.last} (port ${victim.port}) is down already`,
      );
    }
    const replicaPort = range.replicas.find((port) => this.isRunning(this.process(port)));
    const exited = victim.exited;
    process.kill(victim.pid, 'SIGKILL');
    this.kills.push({
      port: victim.port,
      at: Date.now(),
      ranges: ranges.filter((r) => r.primary === victim.port),
    });
    await exited;
    return {
      killed: this.node(victim.port),
      replica: replicaPort === undefined ? undefined : this.node(replicaPort),
    };
  }

  async waitForFailover(key: string, timeoutMs = 15_000): Promise<number> {
    const slot = keySlot(key);
    const kill = this.kills.findLast((each) => each.ranges.some((r) => r.first <= slot && slot <= r.last));
    const since = kill?.at ?? Date.now();
    const deadline = Date.now() + timeoutMs;
    const killedPorts = new Set(this.kills.map((each) => each.port));
    let last = '';
    for (;;) {
      const live = this.processes.filter((node) => this.isRunning(node));
      const views = await Promise.all(
        live.map(async (node): Promise<{ owner?: number; problem?: string }> => {
          try {
            return await onNode(node.port, async (redis) => {
              const info = parseInfo(String(await redis.call('CLUSTER', 'INFO')));
              const owner = rangeOf(parseSlots(await redis.call('CLUSTER', 'SLOTS')), slot).primary;
              if (info.cluster_state !== 'ok')
                return { owner, problem: `cluster_state:${info.cluster_state}` };
              return { owner };
            });
          } catch (error) {
            return { problem: errorText(error) };
          }
        }),
      );
      const owners = new Set(views.map((view) => view.owner));
      const [owner] = owners;
      const ok =
        views.every((view) => view.problem === undefined) &&
        owners.size === 1 &&
        owner !== undefined &&
        !killedPorts.has(owner) &&
        live.some((node) => node.port === owner);
      if (ok) return Date.now() - since;
      last = views
        .map(
          (view, i) =>
            `${live[i]!.port}: slot ${slot} on ${view.owner ?? '?'}${view.problem ? `, ${view.problem}` : ''}`,
        )
        .join('; ');
      if (Date.now() > deadline) {
        throw new Error(`no failover of slot ${slot} within ${timeoutMs} ms (${last})\n${this.logTails()}`);
      }
      await sleep(POLL_MS);
    }
  }

  async commandStats(): Promise<Record<string, number>> {
    const totals: Record<string, number> = {};
    for (const port of await this.livePrimaryPorts()) {
      const text = await onNode(port, (redis) => redis.info('commandstats'));
      for (const match of text.matchAll(/^cmdstat_(\S+):calls=(\d+)/gm)) {
        totals[match[1]!] = (totals[match[1]!] ?? 0) + Number(match[2]);
      }
    }
    return totals;
  }

  async resetStats(): Promise<void> {
    const live = this.processes.filter((node) => this.isRunning(node));
    await Promise.all(live.map((node) => onNode(node.port, (redis) => redis.config('RESETSTAT'))));
  }

  async flushAll(): Promise<void> {
    const ports = await this.livePrimaryPorts();
    await Promise.all(ports.map((port) => onNode(port, (redis) => redis.flushall())));
  }

  async migrateSlotOf(key: string): Promise<MigratedSlot> {
    const slot = keySlot(key);
    const primaries = await this.livePrimaryPorts();
    const source = rangeOf(await this.slotRanges(), slot).primary;
    const target = primaries[(primaries.indexOf(source) + 1) % primaries.length]!;
    if (target === source) throw new Error('migrateSlotOf needs at least two live primaries');
    const id = (port: number) => onNode(port, async (redis) => String(await redis.call('CLUSTER', 'MYID')));
    const [sourceId, targetId] = await Promise.all([id(source), id(target)]);
    await onNode(target, (redis) => redis.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', sourceId));
    await onNode(source, async (redis) => {
      await redis.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', targetId);
      for (;;) {
        const keys = (await redis.call('CLUSTER', 'GETKEYSINSLOT', slot, 100)) as string[];
        if (keys.length === 0) break;
        await redis.call('MIGRATE', HOST, target, '', 0, COMMAND_TIMEOUT_MS, 'KEYS', ...keys);
      }
    });
    // The owner first, then the rest (as redis-cli --cluster does).
    await onNode(target, (redis) => redis.call('CLUSTER', 'SETSLOT', slot, 'NODE', targetId));
    await onNode(source, (redis) => redis.call('CLUSTER', 'SETSLOT', slot, 'NODE', targetId));
    for (const port of primaries.filter((each) => each !== source && each !== target))
      await onNode(port, (redis) => redis.call('CLUSTER', 'SETSLOT', slot, 'NODE', targetId));
    const deadline = Date.now() + CONVERGE_TIMEOUT_MS;
    for (;;) {
      const owners = await Promise.all(
        this.processes
          .filter((node) => this.isRunning(node))
          .map((node) =>
            onNode(
              node.port,
              async (redis) => rangeOf(parseSlots(await redis.call('CLUSTER', 'SLOTS')), slot).primary,
            ),
          ),
      );
      if (owners.every((owner) => owner === target)) break;
      if (Date.now() > deadline)
        throw new Error(`slot ${slot} did not move to port ${target}: ${owners.join(', ')}`);
      await sleep(POLL_MS);
    }
    return { slot, from: this.node(source), to: this.node(target) };
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const live = this.processes.filter((node) => this.isRunning(node));
      for (const node of live) node.child.kill('SIGKILL');
      await Promise.all(live.map((node) => node.exited));
      this.cleanUp();
    })();
    return this.stopping;
  }

  /** Synchronous: for the exit hook, which cannot wait. */
  killNow(): void {
    for (const node of this.processes) if (this.isRunning(node)) node.child.kill('SIGKILL');
    this.cleanUp();
  }

  private cleanUp(): void {
    for (const node of this.processes) rmSync(node.dir, { recursive: true, force: true });
    if (
      this.watchdog?.pid !== undefined &&
      this.watchdog.exitCode === null &&
      this.watchdog.signalCode === null
    ) {
      this.watchdog.kill('SIGKILL');
    }
    running.delete(this);
  }

  /** `CLUSTER SLOTS` of the first live node that answers. */
  private async slotRanges(): Promise<SlotRange[]> {
    const errors: string[] = [];
    for (const node of this.processes.filter((each) => this.isRunning(each))) {
      try {
        return parseSlots(await onNode(node.port, (redis) => redis.call('CLUSTER', 'SLOTS')));
      } catch (error) {
        errors.push(`${node.port}: ${errorText(error)}`);
      }
    }
    throw new Error(
      `no node of the Redis Cluster answers CLUSTER SLOTS (${errors.join('; ') || 'none running'})`,
    );
  }

  private async livePrimaryPorts(): Promise<number[]> {
    const ports = new Set((await this.slotRanges()).map((range) => range.primary));
    return [...ports].filter((port) => this.isRunning(this.process(port)));
  }

  private process(port: number): NodeProcess {
    const found = this.processes.find((node) => node.port === port);
    if (!found) throw new Error(`port ${port} is not a node of this Redis Cluster`);
    return found;
  }

  private node(port: number): ClusterNode {
    const { host, pid, dir } = this.process(port);
    return { host, port, pid, dir };
  }

  private isRunning(node: NodeProcess): boolean {
    return node.child.exitCode === null && node.child.signalCode === null && node.pid > 0;
  }

  private logTails(): string {
    return this.processes
      .map((node) => `--- redis-server ${node.host}:${node.port} (pid ${node.pid}) ---\n${tail(node.log())}`)
      .join('\n');
  }
}

function spawnNode(binary: string, port: number, nodeTimeoutMs: number): NodeProcess {
  const dir = mkdtempSync(join(tmpdir(), 'sse-redis-cluster-'));
  // no --logfile: the log goes to stdout, kept here for error messages
  const child = spawn(
    binary,
    [
      '--port',
      String(port),
      '--bind',
      HOST,
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      'nodes.conf',
      '--cluster-node-timeout',
      String(nodeTimeoutMs),
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--daemonize',
      'no',
      // a replica's first sync at once (default: 5 s later), so a new cluster is ready sooner
      '--repl-diskless-sync-delay',
      '0',
      // CLUSTER SLOTS lists a replica once its replication offset is not 0; on an empty data
      // set only the primary's replication PING moves it (default: every 10 s)
      '--repl-ping-replica-period',
      '1',
    ],
    { detached: false, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  const append = (data: Buffer): void => {
    log = (log + data.toString()).slice(-4 * LOG_TAIL_CHARS);
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (error) => {
      log += `\nspawn failed: ${error.message}`;
      resolve();
    });
  });
  return { host: HOST, port, pid: child.pid ?? 0, dir, child, exited, log: () => log };
}

async function waitUntilListening(node: NodeProcess, logTails: () => string): Promise<void> {
  const deadline = Date.now() + NODE_START_TIMEOUT_MS;
  let exited = false;
  void node.exited.then(() => (exited = true));
  while (!node.log().includes('Ready to accept connections')) {
    if (exited || node.pid === 0) {
      throw new Error(`redis-server on port ${node.port} exited before it was ready:\n${tail(node.log())}`);
    }
    if (Date.now() > deadline) {
      throw new Error(
        `redis-server on port ${node.port} not ready within ${NODE_START_TIMEOUT_MS} ms\n${logTails()}`,
      );
    }
    await sleep(20);
  }
}

/**
 * `count` loopback ports, each free with its bus port (+10 000) free too, all below
 * 55 535. Every port tried stays bound until all are chosen, so none is handed out twice.
 */
async function reserveClientPorts(count: number): Promise<number[]> {
  const held: Server[] = [];
  const ports: number[] = [];
  try {
    for (let tries = 0; ports.length < count; tries++) {
      if (tries > 50 * count)
        throw new Error(`no ${count} free loopback port pairs (p, p + 10000) below 55535`);
      const server = await listenOn(0);
      if (!server) continue;
      held.push(server);
      const port = (server.address() as AddressInfo).port;
      if (port >= MAX_CLIENT_PORT) continue;
      const bus = await listenOn(port + BUS_PORT_OFFSET);
      if (!bus) continue;
      held.push(bus);
      ports.push(port);
    }
    return ports;
  } finally {
    await Promise.all(held.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

function listenOn(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, HOST, () => resolve(server));
  });
}

/** One short connection to one node, closed afterwards; fails fast when the node is down. */
async function onNode<T>(port: number, use: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({
    host: HOST,
    port,
    lazyConnect: true,
    connectTimeout: COMMAND_TIMEOUT_MS,
    commandTimeout: COMMAND_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined); // the rejected command reports it
  try {
    await redis.connect();
    return await use(redis);
  } finally {
    redis.disconnect();
  }
}

/** `CLUSTER SLOTS`: `[first, last, [host, port, id, …], …replicas]` per range. */
function parseSlots(reply: unknown): SlotRange[] {
  if (!Array.isArray(reply)) throw new Error(`unexpected CLUSTER SLOTS reply: ${JSON.stringify(reply)}`);
  return reply.map((entry: unknown[]) => {
    const [first, last, primary, ...replicas] = entry as [number, number, unknown[], ...unknown[][]];
    return {
      first,
      last,
      primary: Number(primary[1]),
      replicas: replicas.map((replica) => Number(replica[1])),
    };
  });
}

function rangeOf(ranges: SlotRange[], slot: number): SlotRange {
  const range = ranges.find((each) => each.first <= slot && slot <= each.last);
  if (!range) throw new Error(`slot ${slot} is not served by any node`);
  return range;
}

/** `field:value` lines of INFO / CLUSTER INFO. */
function parseInfo(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return fields;
}

function tail(text: string): string {
  return text.length > LOG_TAIL_CHARS ? `…${text.slice(-LOG_TAIL_CHARS)}` : text;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
