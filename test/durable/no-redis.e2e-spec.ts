import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { requestJson } from '../utils/api';
import { startApp, type RunningApp } from '../utils/start-app';

const ROOT = resolve(__dirname, '../..');

/** Durable tasks need Redis: without it, clear refusals instead of tasks that never run. */
describe('durable tasks without Redis', () => {
  it('npm run worker (scripts/worker.js) exits 1 and says to set REDIS_URL', async () => {
    const child = spawn(process.execPath, [resolve(ROOT, 'scripts/worker.js')], {
      cwd: ROOT,
      env: { ...process.env, REDIS_URL: '', REDIS_CLUSTER_NODES: '', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (data: Buffer) => (output += data.toString()));
    child.stderr.on('data', (data: Buffer) => (output += data.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect({ code, output }).toEqual({
      code: 1,
      output: expect.stringContaining('durable tasks, which need Redis: set REDIS_URL'),
    });
  }, 30_000);

  describe('POST /tasks in memory mode', () => {
    let server: RunningApp;
    beforeAll(async () => {
      server = await startApp('express');
    });
    afterAll(() => server?.close());

    it('"durable": true is a 400 that says to set REDIS_URL', async () => {
      const response = await requestJson<{ message: string }>(server.baseUrl, 'POST', '/tasks', {
        body: JSON.stringify({ steps: 1, durable: true }),
      });
      expect(response.status).toBe(400);
      expect(response.json.message).toContain('durable tasks need Redis: set REDIS_URL');
    });

    it('"durable": false runs the plain task; "durable": "yes" is a 400', async () => {
      const plain = await requestJson(server.baseUrl, 'POST', '/tasks', {
        body: JSON.stringify({ steps: 1, intervalMs: 0, durable: false }),
      });
      expect(plain.status).toBe(201);
      const bad = await requestJson<{ message: string[] }>(server.baseUrl, 'POST', '/tasks', {
        body: JSON.stringify({ durable: 'yes' }),
      });
      expect(bad.status).toBe(400);
      expect(bad.json.message).toContain('durable must be true or false');
    });
  });
});
