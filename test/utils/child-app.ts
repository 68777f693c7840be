import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');
const START_TIMEOUT_MS = 30_000;

/** The example app in a process of its own, so that a test can SIGTERM or SIGKILL it. */
export interface ChildApp {
  child: ChildProcess;
  /** `http://127.0.0.1:<port>` */
  url: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything it printed so far. */
  output: () => string;
}

/**
 * Runs `node dist/src/main.js` (built beforehand: the e2e global setup, or
 * `scripts/build-if-stale.js`) on a free port with `env` on top of this process's
 * environment (`REDIS_URL` cleared unless given); resolves once it listens.
 */
export async function startChildApp(env: Record<string, string> = {}): Promise<ChildApp> {
  const child = spawn(process.execPath, [resolve(ROOT, 'dist/src/main.js')], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', NO_COLOR: '1', REDIS_URL: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (data: Buffer) => (output += data.toString()));
  child.stderr.on('data', (data: Buffer) => (output += data.toString()));
  const exited = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`the app did not start:\n${output}`)), START_TIMEOUT_MS);
    const check = (): void => {
      const match = /listening on http:\/\/[^:]+:(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolveUrl(`http://127.0.0.1:${match[1]}`);
      }
    };
    child.stdout.on('data', check);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`the app exited before listening:\n${output}`));
    });
  });
  return { child, url, exited, output: () => output };
}

/** SIGKILLs the app if it still runs, and waits for it to be gone. */
export async function killChildApp(app: ChildApp | undefined): Promise<void> {
  if (!app || app.child.exitCode !== null || app.child.signalCode !== null) return;
  app.child.kill('SIGKILL');
  await app.exited;
}
