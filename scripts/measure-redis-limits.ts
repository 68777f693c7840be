// Figures for docs/reliability.md (TASK_MAX admission, the history budget), measured
// against a private redis-server on a free loopback port, which it stops afterwards:
//   node -r ./scripts/register-ts.js scripts/measure-redis-limits.ts admission
//   node -r ./scripts/register-ts.js scripts/measure-redis-limits.ts memory <tasks> <budgetMiB|none>
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { hashResumeKey } from '../libs/sse-resume/src/access/resume-key';
import { RedisTaskStore } from '../libs/sse-resume/src/stores/redis/redis-task-store';
import type { TaskStoreLimits } from '../libs/sse-resume/src/interfaces/task-store.interface';
import { freePort, startRedis, stopRedis } from '@app/sse-resume/testing/private-redis';

const MiB = 1024 * 1024;
const LIMITS: TaskStoreLimits = {
  ttl: 3_600_000,
  expiredRetentionMs: 3_600_000,
  historyLimit: 10_000,
  historyBytes: 9 * MiB,
  historyBudgetBytes: Number.MAX_SAFE_INTEGER,
  maxTasks: 10_000,
};

async function admission(url: string): Promise<void> {
  const stores = [0, 1, 2, 3].map(
    () => new RedisTaskStore({ ...LIMITS, maxTasks: 20 }, { url, keyPrefix: 'm:' }),
  );
  await Promise.all(stores.map((store) => store.init()));
  const outcomes = await Promise.allSettled(
    Array.from({ length: 200 }, (_, i) =>
      stores[i % 4]!.create({
        taskId: `t${i}`,
        keyHash: hashResumeKey(`k${i}`),
        createdAt: Date.now(),
        ownerId: 'x',
      }),
    ),
  );
  const admitted = outcomes.filter((outcome) => outcome.status === 'fulfilled').length;
  console.log(`200 concurrent creates, maxTasks 20, 4 store instances: ${admitted} admitted`);
  await Promise.all(stores.map((store) => store.close()));
}

async function memory(url: string, tasks: number, budgetMiB: number | undefined): Promise<void> {
  const limits = { ...LIMITS, ...(budgetMiB !== undefined && { historyBudgetBytes: budgetMiB * MiB }) };
  const store = new RedisTaskStore(limits, { url, keyPrefix: 'm:' });
  await store.init();
  const admin = new Redis(url);
  const before = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
  const payload = JSON.stringify('x'.repeat(MiB - 2)); // 1 MiB of JSON
  const started = Date.now();
  for (let i = 0; i < tasks; i++) {
    const taskId = `t${i}`;
    await store.create({ taskId, keyHash: hashResumeKey(`k${i}`), createdAt: Date.now(), ownerId: 'x' });
    for (let e = 0; e < 8; e++) await store.append(taskId, 'progress', payload);
    await store.finish(taskId, { status: 'completed', data: '{"status":"completed"}' });
  }
  const after = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
  const counter = Number(await admin.get('m:bytes'));
  console.log(
    `${tasks} tasks x 8 x 1 MiB, budget ${budgetMiB === undefined ? 'none' : `${budgetMiB} MiB`}: ` +
      `used_memory +${((after - before) / MiB).toFixed(1)} MiB, counter ${(counter / MiB).toFixed(1)} MiB ` +
      `(${((Date.now() - started) / 1000).toFixed(1)} s)`,
  );
  admin.disconnect();
  await store.close();
}

async function main(): Promise<void> {
  const [mode, tasks, budget] = process.argv.slice(2);
  const dir = mkdtempSync(join(tmpdir(), 'sse-measure-'));
  const port = await freePort();
  const redis = await startRedis(port, dir, false); // no AOF: gigabytes would go to disk
  try {
    const url = `redis://127.0.0.1:${port}`;
    if (mode === 'admission') await admission(url);
    else if (mode === 'memory')
      await memory(url, Number(tasks ?? 1000), budget === 'none' ? undefined : Number(budget ?? 64));
    else throw new Error('usage: measure-redis-limits.ts admission | memory <tasks> <budgetMiB|none>');
  } finally {
    await stopRedis(redis);
    rmSync(dir, { recursive: true, force: true });
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
