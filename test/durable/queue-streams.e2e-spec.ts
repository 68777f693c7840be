import { Controller, Get, Param, Post, Sse, type MessageEvent } from '@nestjs/common';
import type { Job } from 'bullmq';
import type { Observable } from 'rxjs';
import { performance } from 'node:perf_hooks';
import {
  LastEventId,
  ResumeKey,
  SseResume,
  SseTaskService,
  TaskAccess,
  type TaskInfo,
} from '@app/sse-resume';
import { QueueStreamService } from '@app/sse-resume/queue-streams/queue-stream.service';
import {
  BRIDGE_SECRET,
  bridgeName,
  startBridgeApp,
  TestQueue,
  type BridgeApp,
} from '@app/sse-resume/queue-streams/testing/bridge-harness';
import { deferred } from '@app/sse-resume/testing/async';
import { deleteKeys, TEST_REDIS_URL } from '@app/sse-resume/testing/redis';
import { dataOf, parseFrames, type SseFrame } from '@app/sse-resume/testing/sse';
import type { SseResumeOptions } from '@app/sse-resume/interfaces/sse-resume-options.interface';
import { openStream, requestJson } from '../utils/api';
import { startCuttingProxy } from '../utils/cutting-proxy';
import { followWithResume } from '../utils/resuming-client';

/** The example app's task routes (src/tasks/tasks.controller.ts), plus one that opens a job's stream. */
@Controller()
class BridgeController {
  constructor(
    private readonly tasks: SseTaskService,
    private readonly bridge: QueueStreamService,
  ) {}

  @Post('queues/:queue/jobs/:jobId/stream')
  async open(@Param('queue') queue: string, @Param('jobId') jobId: string) {
    const { taskId, resumeKey } = await this.bridge.access(queue, jobId);
    return { taskId, resumeKey, streamUrl: `/tasks/${taskId}/events?key=${resumeKey}` };
  }

  @Sse('tasks/:taskId/events')
  @SseResume()
  events(
    @Param('taskId') taskId: string,
    @ResumeKey() resumeKey: string | undefined,
    @LastEventId() lastEventId: number | undefined,
  ): Observable<MessageEvent> {
    return this.tasks.stream(taskId, { resumeKey, lastEventId });
  }

  @Get('tasks/:taskId')
  @TaskAccess()
  info(@Param('taskId') taskId: string, @ResumeKey() resumeKey: string | undefined): Promise<TaskInfo> {
    return this.tasks.getTaskInfo(taskId, { resumeKey });
  }
}

interface Opened {
  taskId: string;
  resumeKey: string;
  streamUrl: string;
}

async function openJob(url: string, queue: string, jobId: string): Promise<Opened> {
  const response = await requestJson<Opened>(url, 'POST', `/queues/${queue}/jobs/${jobId}/stream`);
  if (response.status !== 201) throw new Error(`open answered ${response.status}: ${response.text}`);
  return response.json;
}

function summary(frames: readonly SseFrame[]): { event: string; id: number; data: unknown }[] {
  return frames.map((f) => ({ event: f.event as string, id: Number(f.id), data: dataOf(f) }));
}

/** Ids 1..n in order, each once, and exactly one `end`, the last. */
function expectExact(frames: readonly SseFrame[]): void {
  expect(frames.map((f) => Number(f.id))).toEqual(frames.map((_f, i) => i + 1));
  expect(frames.filter((f) => f.event === 'end')).toHaveLength(1);
  expect(frames[frames.length - 1]?.event).toBe('end');
}

function bridgeOptions(q: TestQueue, store: Partial<SseResumeOptions> = {}): SseResumeOptions {
  return {
    ...store,
    queueStreams: {
      queues: [q.name],
      prefix: q.prefix,
      secret: BRIDGE_SECRET,
      connection: { url: TEST_REDIS_URL },
    },
  };
}

describe('queue streams over HTTP (real BullMQ, plain workers)', () => {
  let q: TestQueue;
  const apps: BridgeApp[] = [];
  const storePrefixes: string[] = [];

  function redisStore(): Partial<SseResumeOptions> {
    const keyPrefix = `${bridgeName()}:`;
    storePrefixes.push(keyPrefix);
    return { store: 'redis', redis: { url: TEST_REDIS_URL, keyPrefix } };
  }

  async function start(options: SseResumeOptions): Promise<BridgeApp> {
    const app = await startBridgeApp(options, { controllers: [BridgeController], listen: true });
    apps.push(app);
    return app;
  }

  beforeEach(() => {
    q = new TestQueue(bridgeName(), bridgeName());
  });

  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
    await q.cleanUp();
    await Promise.all(storePrefixes.splice(0).map((prefix) => deleteKeys(prefix)));
  });

  it('a worker that only calls updateProgress is streamed with resume across cuts: exact ids, one end', async () => {
    const app = await start(bridgeOptions(q));
    const job = await q.queue.add('progress-only', {});
    const opened = await openJob(app.url, q.name, job.id as string);
    const proxy = await startCuttingProxy({ target: app.url, seed: 15, minBytes: 450, maxBytes: 1_200 });
    try {
      q.worker(async (j: Job) => {
        for (let step = 1; step <= 60; step++) {
          await j.updateProgress({ step });
          if (step % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
        }
        return { rows: 60 };
      });
      const run = await followWithResume(proxy.url, opened.streamUrl);
      expect(proxy.cuts.length).toBeGreaterThan(3);
      expectExact(run.events);
      expect(summary(run.events)).toEqual([
        ...Array.from({ length: 60 }, (_v, i) => ({ event: 'progress', id: i + 1, data: { step: i + 1 } })),
        { event: 'end', id: 61, data: { status: 'completed', result: { rows: 60 } } },
      ]);
    } finally {
      await proxy.close();
    }
  });

  it.each([
    ['completes', false],
    ['fails', true],
  ])('a worker that logs and %s: log events, then one end', async (_name, fails) => {
    const app = await start(bridgeOptions(q));
    const job = await q.queue.add('logger', {});
    const opened = await openJob(app.url, q.name, job.id as string);
    q.worker(async (j: Job) => {
      for (let i = 1; i <= 3; i++) await j.log(`line ${i}`);
      if (fails) throw new Error('disk full');
      return 'written';
    });
    const run = await followWithResume(app.url, opened.streamUrl);
    expectExact(run.events);
    const end = fails ? { status: 'failed', error: 'disk full' } : { status: 'completed', result: 'written' };
    expect(summary(run.events)).toEqual([
      { event: 'log', id: 1, data: { line: 'line 1' } },
      { event: 'log', id: 2, data: { line: 'line 2' } },
      { event: 'log', id: 3, data: { line: 'line 3' } },
      { event: 'end', id: 4, data: end },
    ]);
  });

  it('two bridge instances on one Redis store mirror every event once; resume on either never repeats an id', async () => {
    const store = redisStore();
    const [a, b] = [await start(bridgeOptions(q, store)), await start(bridgeOptions(q, store))];
    const job = await q.queue.add('twice', {});
    const opened = await openJob(a.url, q.name, job.id as string);
    expect(await openJob(b.url, q.name, job.id as string)).toEqual(opened);
    const gate = deferred();
    q.worker(async (j: Job) => {
      for (let step = 1; step <= 40; step++) {
        await j.updateProgress(step);
        if (step % 8 === 0) await j.log(`at ${step}`);
        if (step === 20) await gate.promise;
      }
      return 'both';
    });
    // Read half on a, then resume on b from the last id a delivered.
    const first = openStream(a.url, opened.streamUrl);
    await waitUntil(
      () => parseFrames(first.chunks.map((c) => c.bytes.toString()).join('')).frames.length >= 20,
    );
    first.socket.destroy();
    const firstFrames = parseFrames(first.chunks.map((c) => c.bytes.toString()).join('')).frames.filter(
      (f) => f.event,
    );
    gate.resolve();
    const lastId = firstFrames[firstFrames.length - 1]?.id as string;
    const rest = await followWithResume(b.url, `${opened.streamUrl}&lastEventId=${lastId}`);
    const all = [...firstFrames, ...rest.events];
    expectExact(all);
    const progress = all.filter((f) => f.event === 'progress').map((f) => dataOf(f));
    expect(progress).toEqual(Array.from({ length: 40 }, (_v, i) => i + 1));
    expect(all.filter((f) => f.event === 'log').map((f) => dataOf<{ line: string }>(f).line)).toEqual([
      'at 8',
      'at 16',
      'at 24',
      'at 32',
      'at 40',
    ]);
  });

  it('a bridge started after some progress seeds the current state, then streams on', async () => {
    const store = redisStore();
    const job = await q.queue.add('late', {});
    const reached = deferred();
    const gate = deferred();
    q.worker(async (j: Job) => {
      for (let step = 1; step <= 5; step++) await j.updateProgress({ step });
      await j.log('halfway');
      reached.resolve();
      await gate.promise;
      for (let step = 6; step <= 8; step++) await j.updateProgress({ step });
      return 'late-ok';
    });
    await reached.promise;
    const app = await start(bridgeOptions(q, store));
    const opened = await openJob(app.url, q.name, job.id as string);
    gate.resolve();
    const run = await followWithResume(app.url, opened.streamUrl);
    expectExact(run.events);
    expect(summary(run.events)).toEqual([
      { event: 'progress', id: 1, data: { step: 5 } },
      { event: 'log', id: 2, data: { line: 'halfway' } },
      { event: 'progress', id: 3, data: { step: 6 } },
      { event: 'progress', id: 4, data: { step: 7 } },
      { event: 'progress', id: 5, data: { step: 8 } },
      { event: 'end', id: 6, data: { status: 'completed', result: 'late-ok' } },
    ]);
  });

  it('a bridge restarted mid-job goes on from its stored cursor: nothing lost, nothing repeated', async () => {
    const store = redisStore();
    const first = await start(bridgeOptions(q, store));
    const job = await q.queue.add('restart', {});
    const opened = await openJob(first.url, q.name, job.id as string);
    const gates = [deferred(), deferred()];
    const reached = [deferred(), deferred()];
    q.worker(async (j: Job) => {
      for (let step = 1; step <= 30; step++) {
        await j.updateProgress(step);
        if (step === 10) reached[0]?.resolve();
        if (step === 10) await gates[0]?.promise;
      }
      return 'restarted';
    });
    await reached[0]?.promise;
    await waitUntil(async () => (await first.tasks.getTaskInfo(opened.taskId)).lastEventId === 10);
    await first.close();
    apps.splice(apps.indexOf(first), 1);
    gates[0]?.resolve(); // steps 11..30 happen while no bridge runs
    await new Promise((resolve) => setTimeout(resolve, 100));
    const second = await start(bridgeOptions(q, store));
    const run = await followWithResume(second.url, `${opened.streamUrl}&lastEventId=4`);
    expect(run.events.map((f) => Number(f.id))).toEqual(Array.from({ length: 27 }, (_v, i) => i + 5));
    expect(run.events.filter((f) => f.event === 'progress').map((f) => dataOf<number>(f))).toEqual(
      Array.from({ length: 26 }, (_v, i) => i + 5),
    );
    expect(run.events[run.events.length - 1]?.event).toBe('end');
  });

  it('latency from updateProgress to the SSE frame (p50/p99 over 300 events)', async () => {
    const app = await start(bridgeOptions(q, redisStore()));
    const job = await q.queue.add('latency', {});
    const opened = await openJob(app.url, q.name, job.id as string);
    const connection = openStream(app.url, opened.streamUrl);
    const count = 300;
    q.worker(async (j: Job) => {
      for (let i = 1; i <= count; i++) {
        await j.updateProgress({ i, t: performance.now() });
        await new Promise((resolve) => setTimeout(resolve, 3));
      }
      return 'measured';
    });
    const response = await connection.done;
    expect(response.status).toBe(200);
    // When each frame was complete: the arrival time of the chunk that finished it.
    const arrivals: number[] = [];
    let text = '';
    for (const chunk of connection.chunks) {
      text += chunk.bytes.toString();
      const frames = parseFrames(text).frames.filter((f) => f.event === 'progress');
      while (arrivals.length < frames.length) arrivals.push(chunk.at);
    }
    const frames = parseFrames(text).frames.filter((f) => f.event === 'progress');
    expect(frames).toHaveLength(count);
    const delays = frames
      .map((f, i) => (arrivals[i] as number) - dataOf<{ t: number }>(f).t)
      .sort((x, y) => x - y);
    const at = (p: number): number =>
      delays[Math.min(delays.length - 1, Math.floor(p * delays.length))] as number;
    const line = `queue stream latency updateProgress -> SSE frame over ${count} events (Redis store): p50 ${at(0.5).toFixed(2)} ms, p99 ${at(0.99).toFixed(2)} ms, max ${at(1).toFixed(2)} ms`;
    process.stdout.write(`${line}\n`);
    expect(at(0.5)).toBeLessThan(100);
  });
});

async function waitUntil(predicate: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
