import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = resolve(__dirname, '../..');

/** The reverse-proxy config the README documents, run by the tests as it is. */
export const NGINX_SITE_CONF = join(ROOT, 'docs/nginx/sse-resume.conf');

/** What the docs file listens on, proxies to and logs into; the only parts a test replaces. */
const LISTEN = 'listen 80;';
const UPSTREAM = 'server 127.0.0.1:3000;';
const LOG_DIR = '/var/log/nginx/';

const START_TIMEOUT_MS = 10_000;

/** The nginx binary: on PATH or where Debian puts it; `undefined` when not installed. */
export function findNginx(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/sbin', '/usr/local/sbin'];
  return dirs.map((dir) => join(dir, 'nginx')).find((path) => existsSync(path));
}

export interface NginxOptions {
  /** Port of the app on 127.0.0.1. */
  upstreamPort: number;
  /** The main context's `worker_shutdown_timeout` (the docs say 30s; tests wait less). */
  workerShutdownTimeout?: string;
  /** A change to the site config after the substitutions (contrast tests only). */
  edit?: (siteConf: string) => string;
}

export interface RunningNginx {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** The access log so far, as the docs config writes it. */
  accessLog(): string;
  errorLog(): string;
  /** `nginx -s reload`: SIGHUP to the master; resolves once new workers run. */
  reload(): Promise<void>;
  /** Fast shutdown (SIGTERM to the master); removes the temporary directory. */
  stop(): Promise<void>;
}

/**
 * The docs config with only its ports and log directory replaced: each must occur exactly
 * once, so that a change to the docs file that the tests would not follow fails loudly.
 */
export function renderSiteConf(
  source: string,
  listenPort: number,
  upstreamPort: number,
  logDir: string,
): string {
  const replaceOnce = (text: string, from: string, to: string): string => {
    const count = text.split(from).length - 1;
    if (count !== 1) throw new Error(`${NGINX_SITE_CONF}: expected "${from}" once, found it ${count} times`);
    return text.replace(from, to);
  };
  let conf = replaceOnce(source, LISTEN, `listen 127.0.0.1:${listenPort};`);
  conf = replaceOnce(conf, UPSTREAM, `server 127.0.0.1:${upstreamPort};`);
  return replaceOnce(conf, LOG_DIR, `${logDir}/`);
}

/**
 * Runs a private nginx (own prefix, pid file, logs and temp paths in a temporary directory,
 * `daemon off` as a child of this process) on a free loopback port, with the docs config
 * included in its http {} block; resolves once it accepts connections.
 */
export async function startNginx(options: NginxOptions): Promise<RunningNginx> {
  const binary = findNginx();
  if (binary === undefined) throw new Error('nginx is not installed: apt-get install -y nginx');
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(binary, options);
    } catch (error) {
      lastError = error; // most likely the free port was taken meanwhile: try another
    }
  }
  throw lastError;
}

async function startOnce(binary: string, options: NginxOptions): Promise<RunningNginx> {
  const dir = mkdtempSync(join(tmpdir(), 'sse-nginx-'));
  const port = await freePort();
  let site = renderSiteConf(readFileSync(NGINX_SITE_CONF, 'utf8'), port, options.upstreamPort, dir);
  if (options.edit) site = options.edit(site);
  writeFileSync(join(dir, 'site.conf'), site);
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((kind) => `  ${kind}_temp_path ${dir}/${kind}_temp;`)
    .join('\n');
  writeFileSync(
    join(dir, 'nginx.conf'),
    [
      'worker_processes 1;',
      `worker_shutdown_timeout ${options.workerShutdownTimeout ?? '30s'};`,
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/error.log notice;`,
      'events { worker_connections 512; }',
      'http {',
      temp,
      `  include ${dir}/site.conf;`,
      '}',
      '',
    ].join('\n'),
  );
  const check = spawnSync(binary, ['-t', '-q', '-p', dir, '-c', join(dir, 'nginx.conf')], {
    encoding: 'utf8',
  });
  if (check.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`nginx -t failed:\n${check.stderr}`);
  }

  const child: ChildProcess = spawn(binary, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (data: Buffer) => (output += data.toString()));
  child.stderr?.on('data', (data: Buffer) => (output += data.toString()));
  const exited = once(child, 'exit');
  const read = (name: string): string => {
    try {
      return readFileSync(join(dir, name), 'utf8');
    } catch {
      return '';
    }
  };
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      const log = read('error.log');
      await stop();
      throw new Error(`nginx did not start on port ${port}:\n${output}${log}`);
    }
    await sleep(20);
  }

  const workersStarted = (): number => read('error.log').split('start worker process').length - 1;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    accessLog: () => read('sse-resume.access.log'),
    errorLog: () => read('error.log'),
    reload: async () => {
      const before = workersStarted();
      child.kill('SIGHUP');
      const until = Date.now() + START_TIMEOUT_MS;
      while (workersStarted() <= before) {
        if (Date.now() > until) throw new Error(`nginx did not reload:\n${read('error.log')}`);
        await sleep(20);
      }
    },
    stop,
  };
}

/** A loopback port nobody listens on right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', resolveListen));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
  return port;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolveAccepts) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolveAccepts(true);
    });
    socket.once('error', () => resolveAccepts(false));
  });
}
