import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { appendToRunLog } from './log-capture';

const ROOT = resolve(__dirname, '../..');
const START_TIMEOUT_MS = 30_000;

/**
 * The log line that says a child is ready: `[Nest] <pid> ...` (text) or `"pid":<pid>,...`
 * (`LOG_JSON=1`) first, then, for an HTTP app, the port it listens on.
 */
export interface ReadyPattern {
  /** What the child is waiting for, in the timeout's message. */
  what: string;
  /** Group 1 the PID; group 2, if any, the port. */
  patterns: RegExp[];
}

/** The HTTP app: "listening on http://0.0.0.0:<port>, ..." */
export const LISTENING: ReadyPattern = {
  what: 'listen',
  // e.g. "[Nest] 16537  - 11/26/2026, 3:35:55 PM     LOG [Bootstrap] listening on http://0.0.0.0:33931, ...",
  // or with LOG_JSON=1 {"level":"log","pid":16537,...,"message":"listening on http://0.0.0.0:33931, ...",...}
  patterns: [
    /\[Nest\] (\d+) .*listening on http:\/\/[^:]+:(\d+)/,
    /"pid":(\d+),.*"message":"listening on http:\/\/[^:]+:(\d+)/,
  ],
};

/** The worker process (`dist/src/worker.js`): "worker ready (...)". */
export const WORKER_READY: ReadyPattern = {
  what: 'log "worker ready"',
  patterns: [/\[Nest\] (\d+) .*worker ready \(/, /"pid":(\d+),.*"message":"worker ready \(/],
};

/** The example app in a process of its own, so that a test can SIGTERM or SIGKILL it. */
export interface ChildApp {
  child: ChildProcess;
  /** PID of the process that listens (the Nest log line's), `child.pid` unless a launcher runs it. */
  appPid: number;
  /** `http://127.0.0.1:<port>`; `''` for a worker process (no HTTP server). */
  url: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything it printed so far. */
  output: () => string;
}

/**
 * Runs `node dist/src/main.js` (built beforehand: the e2e global setup, or
 * `scripts/build-if-stale.js`), or another `script` that starts it, on a free port with `env`
 * on top of this process's environment (`REDIS_URL` cleared unless given); resolves once it
 * logs its `ready` line (default: it listens).
 */
export async function startChildApp(
  env: Record<string, string> = {},
  {
    script = 'dist/src/main.js',
    timeoutMs = START_TIMEOUT_MS,
    ready = LISTENING,
  }: { script?: string; timeoutMs?: number; ready?: ReadyPattern } = {},
): Promise<ChildApp> {
  const child = spawn(process.execPath, [resolve(ROOT, script)], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', NO_COLOR: '1', REDIS_URL: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (data: Buffer) => (output += data.toString()));
  child.stderr.on('data', (data: Buffer) => (output += data.toString()));
  child.once('close', () => appendToRunLog(output)); // the e2e run's log check reads it too
  const exited = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  const { url, appPid } = await new Promise<{ url: string; appPid: number }>((resolveUrl, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${script} did not ${ready.what} within ${timeoutMs} ms:\n${output}`)),
      timeoutMs,
    );
    const check = (): void => {
      const match = ready.patterns.map((pattern) => pattern.exec(output)).find((found) => found !== null);
      if (match) {
        clearTimeout(timer);
        const port = match[2];
        resolveUrl({ url: port === undefined ? '' : `http://127.0.0.1:${port}`, appPid: Number(match[1]) });
      }
    };
    child.stdout.on('data', check);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited (${code ?? signal}) before it could ${ready.what}:\n${output}`));
    });
  });
  return { child, appPid, url, exited, output: () => output };
}

/** Runs the worker process (`dist/src/worker.js`, no HTTP server); resolves once it logs "worker ready". */
export function startChildWorker(
  env: Record<string, string> = {},
  timeoutMs = START_TIMEOUT_MS,
): Promise<ChildApp> {
  return startChildApp(env, { script: 'dist/src/worker.js', timeoutMs, ready: WORKER_READY });
}

/** SIGKILLs the app if it still runs, and waits for it to be gone. */
export async function killChildApp(app: ChildApp | undefined): Promise<void> {
  if (!app || app.child.exitCode !== null || app.child.signalCode !== null) return;
  app.child.kill('SIGKILL');
  await app.exited;
}
