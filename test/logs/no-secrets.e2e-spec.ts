import { setTimeout as sleep } from 'node:timers/promises';
import { SseTaskService } from '@app/sse-resume';
import { generateResumeKey, hashResumeKey } from '@app/sse-resume/access/resume-key';
import { CapturingLogger } from '@app/sse-resume/testing/log-capture';
import type { RawResponse } from '@app/sse-resume/testing/raw-http';
import { deleteKeys, TEST_REDIS_URL, uniquePrefix } from '@app/sse-resume/testing/redis';
import { dataOf, eventFrames, idOf, parseFrames } from '@app/sse-resume/testing/sse';
import {
  cancelTask,
  type CreatedTask,
  getInfo,
  openStream,
  readStream,
  requestJson,
  type TaskBody,
} from '../utils/api';
import { type ChildApp, killChildApp, startChildApp } from '../utils/child-app';
import { appendToRunLog } from '../utils/log-capture';
import { logProblems } from '../utils/log-check';
import { ADAPTERS, type Adapter, type RunningApp, startApp } from '../utils/start-app';

/**
 * Issue 12: the logs of a broad workload (streams by every key source, resumes, wrong keys,
 * cancels, failing tasks, a slow consumer; with Redis also an owner killed) hold no resume
 * key, no key hash, no `key=`, and every line about a task is a JSON record with its `taskId`.
 * Each app logs through Nest's JSON ConsoleLogger into memory (and the run's log file, which
 * global-teardown checks across the whole e2e run).
 */

type Store = 'memory' | 'redis';
type LogRecordJson = {
  level: string;
  context?: string;
  message: Record<string, unknown> & { message: string };
};

/** The captured records of the library (context SseResume). */
function libraryRecords(logger: CapturingLogger): LogRecordJson[] {
  return logger.records().filter((record) => record.context === 'SseResume') as LogRecordJson[];
}

/** Waits until a library record whose message contains `text` was logged; returns it. */
async function waitForRecord(
  logger: CapturingLogger,
  text: string,
  timeoutMs = 15_000,
): Promise<LogRecordJson> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const record = libraryRecords(logger).find((r) => r.message.message.includes(text));
    if (record) return record;
    if (Date.now() > deadline) throw new Error(`no log line with "${text}" in:\n${logger.lines.join('\n')}`);
    await sleep(20);
  }
}

function endOf(response: RawResponse): { status: string; error?: string } | undefined {
  const last = eventFrames(parseFrames(response.text).frames).at(-1);
  return last?.event === 'end' ? dataOf(last) : undefined;
}

function ids(response: RawResponse): number[] {
  return eventFrames(parseFrames(response.text).frames).map(idOf);
}

/** Starts tasks through `POST /tasks`, remembering every key (and task id) it gives out. */
class Workload {
  readonly secrets = new Set<string>();
  readonly taskIds = new Set<string>();

  constructor(private readonly baseUrl: string) {}

  async start(body: TaskBody): Promise<CreatedTask> {
    const response = await requestJson<CreatedTask>(this.baseUrl, 'POST', '/tasks', {
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(201);
    this.secrets.add(response.json.resumeKey);
    this.taskIds.add(response.json.taskId);
    expect(response.headers['set-cookie']).toContain(response.json.resumeKey); // the cookie carries it too
    return response.json;
  }

  /** A key no task has, shaped like a real one (a guess must not be logged either). */
  wrongKey(): string {
    const key = generateResumeKey();
    this.secrets.add(key);
    return key;
  }
}

describe('the log check', () => {
  it('finds a key, its hash, anything shaped like either, key=, and library lines without structure or taskId', () => {
    const key = generateResumeKey();
    const line = (message: unknown) => JSON.stringify({ level: 'warn', context: 'SseResume', message });
    const problems = (text: string) =>
      logProblems(text, { secrets: [key] }).map((p) => p.slice(0, p.indexOf(':')));
    expect(problems(line({ message: 'task failed', taskId: 't-1' }))).toEqual([]);
    expect(problems(line({ message: 'expired tasks evicted', count: 2 }))).toEqual([]);
    expect(problems(`[Nest] 1 - LOG [SseResume] x ${key}`)).toEqual(['a resume key or its hash']);
    expect(problems(line({ message: 'x', taskId: 't-1', key: hashResumeKey(key) }))).toEqual([
      'a resume key or its hash',
    ]);
    expect(problems(`GET /x?key=${encodeURIComponent(generateResumeKey())}`)).toEqual([
      'something shaped like a resume key',
      'a key= query string',
    ]);
    expect(problems(`sse:key:${hashResumeKey('other')}`)).toEqual(['something shaped like a key hash']);
    expect(problems(line('task t-1 failed'))).toEqual(['a library line that is not a structured record']);
    expect(problems(line({ message: 'subscriber dropped' }))).toEqual([
      'a library line about a task without its taskId',
    ]);
    expect(problems('{"level":')).toEqual(['not JSON']);
  });
});

const COMBINATIONS: [Adapter, Store][] = ADAPTERS.flatMap((adapter) =>
  (['memory', 'redis'] as const).map((store): [Adapter, Store] => [adapter, store]),
);

describe.each(COMBINATIONS)('logs of a workload (%s, %s store)', (adapter, store) => {
  const prefix = uniquePrefix(`e2e-logs-${adapter}`);
  const logger = new CapturingLogger({ json: true }, appendToRunLog);
  let server: RunningApp;
  let work: Workload;

  beforeAll(async () => {
    const redis: Record<string, string> =
      store === 'redis' ? { REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix } : {};
    server = await startApp(
      adapter,
      { SLOW_CONSUMER_TIMEOUT_MS: '300', MAX_PENDING_BYTES: String(64 * 1024), ...redis },
      { logger },
    );
    work = new Workload(server.baseUrl);
  });
  afterAll(async () => {
    await server?.close();
    if (store === 'redis') await deleteKeys(prefix);
  });

  it('streams by every key source, resumes, refuses wrong keys, cancels, fails tasks, drops a slow consumer', async () => {
    const base = server.baseUrl;
    const events = (task: { taskId: string }) => `/tasks/${task.taskId}/events`;

    const task = await work.start({ steps: 6, intervalMs: 5 });
    const streams = await Promise.all([
      readStream(base, events(task), { 'x-resume-key': task.resumeKey }),
      readStream(base, task.streamUrl), // ?key=
      readStream(base, events(task), { Cookie: `sse-resume-${task.taskId}=${task.resumeKey}` }),
    ]);
    for (const response of streams)
      expect(endOf(response)).toEqual({ status: 'completed', result: { steps: 6 } });
    const resumed = await readStream(base, events(task), {
      'x-resume-key': task.resumeKey,
      'Last-Event-ID': '3',
    });
    expect(ids(resumed)).toEqual([4, 5, 6, 7]);
    expect((await getInfo(base, task.taskId, task.resumeKey)).status).toBe(200);

    // Wrong or missing keys, by every source and route: 403.
    const wrong = work.wrongKey();
    const refused = await Promise.all([
      readStream(base, events(task), { 'x-resume-key': wrong }),
      readStream(base, `${events(task)}?key=${wrong}`),
      readStream(base, events(task), { Cookie: `sse-resume-${task.taskId}=${wrong}` }),
      readStream(base, events(task)),
      getInfo(base, task.taskId, wrong),
      cancelTask(base, task.taskId, wrong),
    ]);
    expect(refused.map((response) => response.status)).toEqual([403, 403, 403, 403, 403, 403]);

    // Cancelled, failed by the task (TaskError: not a bug, not logged), failed by a bug.
    const long = await work.start({ steps: 1000, intervalMs: 20 });
    const cancelling = readStream(base, events(long), { 'x-resume-key': long.resumeKey });
    await sleep(60);
    expect((await cancelTask(base, long.taskId, long.resumeKey)).status).toBe(202);
    expect(endOf(await cancelling)).toMatchObject({ status: 'cancelled' });
    const failing = await work.start({ steps: 5, intervalMs: 1, failAt: 3 });
    expect(endOf(await readStream(base, events(failing), { 'x-resume-key': failing.resumeKey }))).toEqual({
      status: 'failed',
      error: 'failed at step 3',
    });
    const tasks = server.app.get(SseTaskService);
    const buggy = await tasks.start(async ({ emit }) => {
      await emit({ step: 1 });
      throw new Error('the database went away');
    });
    const unserializable = await tasks.start(async () => ({ count: 1n }));
    for (const started of [buggy, unserializable]) {
      work.secrets.add(started.resumeKey);
      work.taskIds.add(started.taskId);
      const response = await readStream(base, events(started), { 'x-resume-key': started.resumeKey });
      expect(endOf(response)).toMatchObject({ status: 'failed' });
    }
    expect((await waitForRecord(logger, 'task failed')).message).toMatchObject({
      taskId: buggy.taskId,
      error: 'the database went away',
    });
    expect((await waitForRecord(logger, 'could not be serialized')).message).toMatchObject({
      taskId: unserializable.taskId,
    });

    // A consumer that stops reading: dropped (maxPendingBytes or slowConsumerTimeoutMs).
    const big = await work.start({ steps: 430, intervalMs: 0, payloadBytes: 16 * 1024 });
    const slow = openStream(base, events(big), { 'x-resume-key': big.resumeKey });
    slow.socket.pause();
    const dropped = await waitForRecord(logger, 'subscriber ');
    expect(dropped).toMatchObject({
      level: 'warn',
      message: { taskId: big.taskId, subscriberId: expect.any(String) },
    });
    slow.socket.destroy();
    await slow.closed;
  });

  it('logged no resume key, key hash or key=; every library line is a JSON record, with the taskId of a task of the run', () => {
    expect(work.secrets.size).toBeGreaterThanOrEqual(7);
    const text = logger.lines.join('\n');
    expect(logProblems(text, { secrets: work.secrets })).toEqual([]);
    const library = libraryRecords(logger);
    expect(library.length).toBeGreaterThanOrEqual(3);
    for (const record of library) {
      expect(typeof record.message.message).toBe('string');
      expect(work.taskIds).toContain(record.message.taskId);
    }
  });
});

describe('logs when a Redis owner instance is killed (child owner with LOG_JSON=1, lease 1 s)', () => {
  const prefix = uniquePrefix('e2e-logs-owner');
  const env = { REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix };
  const logger = new CapturingLogger({ json: true }, appendToRunLog);
  let owner: ChildApp | undefined;
  let survivor: RunningApp | undefined;

  afterAll(async () => {
    await killChildApp(owner);
    await survivor?.close();
    await deleteKeys(prefix);
  });

  it('the reaper names the task and the lost owner; neither instance logs a key', async () => {
    owner = await startChildApp({ ...env, HTTP_ADAPTER: 'fastify', REDIS_LEASE_MS: '1000', LOG_JSON: '1' });
    survivor = await startApp('express', env, { logger });
    const work = new Workload(owner.url);
    const task = await work.start({ steps: 100_000, intervalMs: 20 });
    const wrong = work.wrongKey();
    expect((await getInfo(survivor.baseUrl, task.taskId, wrong)).status).toBe(403);
    const info = await getInfo(survivor.baseUrl, task.taskId, task.resumeKey);
    expect(info.json.status).toBe('running');

    owner.child.kill('SIGKILL');
    await owner.exited;
    const tasks = survivor.app.get(SseTaskService);
    const deadline = Date.now() + 10_000;
    while ((await getInfo(survivor.baseUrl, task.taskId, task.resumeKey)).json.status === 'running') {
      if (Date.now() > deadline) throw new Error('the orphan was not failed');
      await tasks.evictExpired(); // the eviction job, now instead of at its next run
      await sleep(100);
    }
    const reaped = await waitForRecord(logger, 'owner instance was lost');
    expect(reaped).toMatchObject({
      level: 'warn',
      message: { taskId: task.taskId, owner: expect.stringMatching(/^[0-9a-f-]{36}$/) },
    });

    const ownerOutput = owner.output().trim();
    expect(ownerOutput).toMatch(/^\{/); // LOG_JSON=1: JSON lines
    for (const text of [logger.lines.join('\n'), ownerOutput]) {
      expect(logProblems(text, { secrets: work.secrets })).toEqual([]);
    }
  });
});
