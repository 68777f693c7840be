import { type ChildProcess, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildMessage, DoneMessage, GoMessage } from './shared';

/** A forked bench process and what it printed (shown when it fails). */
export interface Child {
  name: string;
  process: ChildProcess;
  output: () => string;
  /** The next message of this child of the given type (rejects when it fails or exits first). */
  next<T extends ChildMessage['type']>(
    type: T,
    timeoutMs: number,
  ): Promise<Extract<ChildMessage, { type: T }>>;
}

/** Starts `script` (a file of bench/dist/bench/durable) with an IPC channel and `env` on top of ours. */
export function startChild(name: string, script: string, args: string[], env: Record<string, string>): Child {
  const child = fork(join(__dirname, script), args, {
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  child.stdout!.on('data', (data: Buffer) => (output += data.toString()));
  child.stderr!.on('data', (data: Buffer) => (output += data.toString()));
  const messages: ChildMessage[] = [];
  const waiters: (() => void)[] = [];
  child.on('message', (message: ChildMessage) => {
    messages.push(message);
    for (const wake of waiters.splice(0)) wake();
  });
  child.once('exit', () => {
    for (const wake of waiters.splice(0)) wake();
  });
  const next = <T extends ChildMessage['type']>(
    type: T,
    timeoutMs: number,
  ): Promise<Extract<ChildMessage, { type: T }>> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${name}: no ${type} within ${timeoutMs} ms\n${output}`)),
        timeoutMs,
      );
      const check = (): void => {
        const failed = messages.find((message) => message.type === 'failed');
        const found = messages.findIndex((message) => message.type === type);
        if (failed?.type === 'failed') {
          clearTimeout(timer);
          reject(new Error(`${name} failed: ${failed.message}\n${output}`));
        } else if (found >= 0) {
          clearTimeout(timer);
          resolve(messages.splice(found, 1)[0] as Extract<ChildMessage, { type: T }>);
        } else if (child.exitCode !== null || child.signalCode !== null) {
          clearTimeout(timer);
          reject(
            new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before ${type}\n${output}`),
          );
        } else {
          waiters.push(check);
        }
      };
      check();
    });
  return { name, process: child, output: () => output, next };
}

/** Sends `go` and waits for the child's `done`. */
export async function goAndWait(child: Child, go: GoMessage, timeoutMs: number): Promise<DoneMessage> {
  child.process.send(go);
  return child.next('done', timeoutMs);
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the child is gone. */
export async function stopChild(child: Child, graceMs = 5_000): Promise<void> {
  const proc = child.process;
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
}

/** A process's user + system CPU time so far, ms (/proc/<pid>/stat; 0 when unavailable). */
export function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // USER_HZ = 100 on Linux
  } catch {
    return 0;
  }
}
