import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';

/**
 * A private `redis-server` per test, for tests that stop, kill or restart Redis without
 * touching the shared one (test helper, not part of the public API).
 */

/** A free loopback port (at the time of asking). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * A private `redis-server` on a loopback port, persisting every write to an append-only
 * file in `dir` (fsync always, so a SIGKILL loses nothing acknowledged) unless told not to.
 * Resolves once it accepts connections.
 */
export function startRedis(port: number, dir: string, appendOnly = true): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        appendOnly ? 'yes' : 'no',
        ...(appendOnly ? ['--appendfsync', 'always'] : []),
        '--dir',
        dir,
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`redis-server on port ${port} did not start within 10 s`));
    }, 10_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`redis-server on port ${port} exited (${signal ?? code}) before it was ready`));
    });
    child.stdout.on('data', (chunk: Buffer) => {
      if (!chunk.toString().includes('Ready to accept connections')) return;
      clearTimeout(timer);
      resolve(child);
    });
  });
}

/** Stops a server {@link startRedis} started (SIGKILL: a crash), and waits for it to be gone. */
export async function stopRedis(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  await exited;
}

/** A private redis-server that a test can crash ({@link kill}) and start again on the same data. */
export class PrivateRedis {
  private child: ChildProcess | undefined;

  constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.child = await startRedis(this.port, this.dir);
  }

  /** SIGKILL, as a crash; data written so far is in the append-only file. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child) await stopRedis(child, 'SIGKILL');
  }
}
