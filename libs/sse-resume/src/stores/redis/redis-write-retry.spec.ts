import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { StoreUnavailableError, TaskNotRunningError } from '../../errors';
import { hashResumeKey } from '../../access/resume-key';
import { freePort, startRedis, stopRedis } from '../../testing/private-redis';
import { RedisTaskStore } from './redis-task-store';
import { retryWrite, type WriteRetryContext } from './redis-write-retry';
import { testStoreLimits } from '../../testing/limits';

describe('retryWrite', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  function context(retryMs: number, closed = false): WriteRetryContext & { waits: number[] } {
    const waits: number[] = [];
    return {
      retryMs,
      waits,
      isClosed: () => closed,
      waitForConnection: (ms) => {
        waits.push(ms);
        return new Promise((resolve) => setTimeout(resolve, ms));
      },
    };
  }

  it('retries a write the store could not take until it succeeds', async () => {
    jest.useFakeTimers();
    let attempts = 0;
    const write = jest.fn(async () => {
      if (++attempts < 4) throw new StoreUnavailableError('Connection is closed.');
      return 'stored';
    });
    const ctx = context(10_000);
    const result = retryWrite(write, ctx);
    await jest.advanceTimersByTimeAsync(1_000);
    await expect(result).resolves.toBe('stored');
    expect(write).toHaveBeenCalledTimes(4);
    expect(ctx.waits).toEqual([25, 50, 100]);
  });

  it('gives up with the last StoreUnavailableError once retryMs has passed since the first failure', async () => {
    jest.useFakeTimers();
    const write = jest.fn(async () => {
      throw new StoreUnavailableError('Connection is closed.');
    });
    const result = retryWrite(write, context(3_000));
    const settled = result.catch((err: unknown) => err);
    await jest.advanceTimersByTimeAsync(2_900);
    expect(write.mock.calls.length).toBeGreaterThan(3);
    await jest.advanceTimersByTimeAsync(200);
    expect(await settled).toBeInstanceOf(StoreUnavailableError);
    const calls = write.mock.calls.length;
    await jest.advanceTimersByTimeAsync(5_000);
    expect(write).toHaveBeenCalledTimes(calls);
  });

  it('does not retry other errors, nor once the store is closed', async () => {
    const refused = jest.fn(async () => {
      throw new TaskNotRunningError('t', 'completed');
    });
    await expect(retryWrite(refused, context(10_000))).rejects.toBeInstanceOf(TaskNotRunningError);
    expect(refused).toHaveBeenCalledTimes(1);
    const unavailable = jest.fn(async () => {
      throw new StoreUnavailableError('the store is closed');
    });
    await expect(retryWrite(unavailable, context(10_000, true))).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
    expect(unavailable).toHaveBeenCalledTimes(1);
  });
});

const LIMITS = testStoreLimits({ historyLimit: 1_000 });

/** A TCP relay that can drop the reply to the next script call, and the connection with it. */
class ReplyDroppingProxy {
  private dropNextScriptReply = false;
  private readonly sockets = new Set<Socket>();
  readonly server: Server;

  constructor(private readonly target: number) {
    this.server = createServer((client) => {
      const upstream = connect(this.target, '127.0.0.1');
      let scriptSent = false;
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.on('data', (chunk: Buffer) => {
        if (this.dropNextScriptReply && /evalsha/i.test(chunk.toString('latin1'))) scriptSent = true;
        upstream.write(chunk);
      });
      upstream.on('data', (chunk: Buffer) => {
        if (scriptSent) {
          // Redis ran the script; its answer is lost with the connection.
          this.dropNextScriptReply = false;
          scriptSent = false;
          client.destroy();
          upstream.destroy();
          return;
        }
        client.write(chunk);
      });
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as { port: number }).port;
  }

  dropReplyToNextScript(): void {
    this.dropNextScriptReply = true;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** Connection resets against a private redis-server (they would cut every other test's clients). */
describe('RedisTaskStore writes across a connection reset', () => {
  let redis: ChildProcess;
  let dir: string;
  let port: number;
  let killer: Redis;
  const stores: RedisTaskStore[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sse-redis-retry-'));
    port = await freePort();
    redis = await startRedis(port, dir);
    killer = new Redis(port, '127.0.0.1');
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
  });
  afterAll(async () => {
    killer.disconnect();
    await stopRedis(redis);
    rmSync(dir, { recursive: true, force: true });
  });

  async function openStore(url: string, writeRetryMs?: number): Promise<RedisTaskStore> {
    const store = new RedisTaskStore(LIMITS, {
      url,
      keyPrefix: `retry:${Math.random().toString(36).slice(2)}:`,
      writeRetryMs,
    });
    stores.push(store);
    await store.init();
    return store;
  }

  async function newTask(store: RedisTaskStore): Promise<string> {
    const taskId = `task-${Math.random().toString(36).slice(2)}`;
    await store.create({ taskId, keyHash: hashResumeKey(taskId), createdAt: Date.now(), ownerId: 'me' });
    return taskId;
  }

  it('CLIENT KILL TYPE normal in the middle of a 100-step task: it completes with every id once', async () => {
    const store = await openStore(`redis://127.0.0.1:${port}`);
    const taskId = await newTask(store);
    const acknowledged: number[] = [];
    for (let step = 1; step <= 100; step++) {
      if (step === 40 || step === 70) {
        // One kill between two awaited steps, one while a batch of unawaited ones is in flight.
        const batch = [0, 1, 2].map((i) =>
          store.append(taskId, 'progress', JSON.stringify({ step: step + i })),
        );
        await killer.call('CLIENT', 'KILL', 'TYPE', 'normal');
        acknowledged.push(...(await Promise.all(batch)).map((event) => event.seq));
        step += 2;
        continue;
      }
      acknowledged.push((await store.append(taskId, 'progress', JSON.stringify({ step }))).seq);
    }
    const end = await store.finish(taskId, { status: 'completed', data: '{"status":"completed"}' });
    expect(end?.seq).toBe(101);
    expect(acknowledged).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    const stored = await store.read(taskId, 0, 1_000);
    expect(stored.events.map((event) => event.seq)).toEqual(Array.from({ length: 101 }, (_, i) => i + 1));
    expect(
      stored.events.slice(0, 100).map((event) => (JSON.parse(event.data) as { step: number }).step),
    ).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  });

  it('applies a write whose reply was lost once: the retry is recognized, for events and for the end', async () => {
    const proxy = new ReplyDroppingProxy(port);
    const proxyPort = await proxy.listen();
    try {
      const store = await openStore(`redis://127.0.0.1:${proxyPort}`);
      const taskId = await newTask(store);
      proxy.dropReplyToNextScript();
      const first = await store.append(taskId, 'progress', '"once"');
      const second = await store.append(taskId, 'progress', '"next"');
      expect([first.seq, second.seq]).toEqual([1, 2]);
      proxy.dropReplyToNextScript();
      const end = await store.finish(taskId, { status: 'completed', data: '{"status":"completed"}' });
      expect(end).toMatchObject({ seq: 3, type: 'end' });
      const stored = await store.read(taskId, 0, 10);
      expect(stored.events.map((event) => event.data)).toEqual([
        '"once"',
        '"next"',
        '{"status":"completed"}',
      ]);
    } finally {
      await Promise.all(stores.splice(0).map((store) => store.close()));
      await proxy.close();
    }
  });

  it('still fails a write loudly when Redis stays away longer than writeRetryMs', async () => {
    const ownDir = mkdtempSync(join(tmpdir(), 'sse-redis-retry-'));
    const ownPort = await freePort();
    const own = await startRedis(ownPort, ownDir);
    try {
      const store = await openStore(`redis://127.0.0.1:${ownPort}`, 500);
      const taskId = await newTask(store);
      await store.append(taskId, 'progress', '1');
      await stopRedis(own);
      await expect(store.append(taskId, 'progress', '2')).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(
        store.finish(taskId, { status: 'failed', data: '{"status":"failed"}', error: 'x' }),
      ).rejects.toBeInstanceOf(StoreUnavailableError);
    } finally {
      await Promise.all(stores.splice(0).map((store) => store.close()));
      await stopRedis(own);
      rmSync(ownDir, { recursive: true, force: true });
    }
  });
});
