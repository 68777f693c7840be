/*
 * What `waitForReplicas` costs: the Redis store on a private Redis Cluster (three primaries,
 * a replica each, started here and stopped at the end), appends with and without WAIT 1.
 *
 *   node -r ./scripts/register-ts.js scripts/measure-redis-wait.ts [seconds per row, default 3]
 *
 * Rows: one task appending one awaited event at a time (latency per write), and 200 tasks
 * appending at once (throughput). Prints a markdown table.
 */
import { hashResumeKey } from '../libs/sse-resume/src/access/resume-key';
import { RedisTaskStore } from '../libs/sse-resume/src/stores/redis/redis-task-store';
import { startRedisCluster } from '../libs/sse-resume/src/testing/redis-cluster';
import { testStoreLimits } from '../libs/sse-resume/src/testing/limits';

const SECONDS = Number(process.argv[2] ?? 3);
const DATA = JSON.stringify({ step: 1, total: 100, message: 'x'.repeat(160) });

async function row(store: RedisTaskStore, tasks: number, label: string): Promise<string> {
  const ids = Array.from({ length: tasks }, (_, i) => `${label}-${i}-${Date.now()}`);
  for (const taskId of ids) {
    await store.create({ taskId, keyHash: hashResumeKey(taskId), createdAt: Date.now(), ownerId: 'me' });
  }
  const latencies: number[] = [];
  const deadline = performance.now() + SECONDS * 1000;
  await Promise.all(
    ids.map(async (taskId) => {
      while (performance.now() < deadline) {
        const began = performance.now();
        await store.append(taskId, 'progress', DATA);
        latencies.push(performance.now() - began);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  return `| ${label} | ${tasks} | ${Math.round(latencies.length / SECONDS)} | ${at(0.5).toFixed(2)} | ${at(0.99).toFixed(2)} |`;
}

async function main(): Promise<void> {
  const cluster = await startRedisCluster();
  const limits = { ...testStoreLimits(), maxTasks: 100_000, historyLimit: 1_000 };
  const rows: string[] = [];
  try {
    for (const waitForReplicas of [0, 1]) {
      const store = new RedisTaskStore(limits, {
        nodes: cluster.seeds.split(','),
        keyPrefix: `wait${waitForReplicas}:`,
        waitForReplicas,
      });
      await store.init();
      const label = waitForReplicas ? 'WAIT 1' : 'no WAIT';
      rows.push(await row(store, 1, label), await row(store, 200, label));
      if (store.replicaShortfalls > 0)
        rows.push(`| (${label}: ${store.replicaShortfalls} writes short of replicas) | | | | |`);
      await store.close();
    }
  } finally {
    await cluster.stop();
  }
  console.log(
    ['| writes | tasks | appends/s | p50 ms | p99 ms |', '| --- | --- | --- | --- | --- |', ...rows].join(
      '\n',
    ),
  );
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
