import { SseTaskService } from '@app/sse-resume';
import { eventFrames, idOf, parseFrames } from '@app/sse-resume/testing/sse';
import { setTimeout as sleep } from 'node:timers/promises';
import { cancelTask, createTask, openStream, readStream, requestJson, waitForInfo } from './utils/api';
import { ADAPTERS, type Adapter, type RunningApp, startApp } from './utils/start-app';

/** One sample line of the Prometheus text format, its labels without the OpenTelemetry scope ones. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) {
      if (!key!.startsWith('otel_scope_')) labels[key!] = value!;
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** Scrapes /metrics: the answer, and the value of a sample with exactly these labels (undefined if none). */
async function scrape(baseUrl: string) {
  const response = await requestJson(baseUrl, 'GET', '/metrics');
  const samples = parseSamples(response.text);
  const value = (name: string, labels: Record<string, string> = {}): number | undefined => {
    const key = JSON.stringify(Object.entries(labels).sort());
    return samples.find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === key)
      ?.value;
  };
  return { response, samples, value };
}

/** Bytes the library counts for a demo progress event: UTF-8 of the name and of its JSON data. */
function demoEventBytes(step: number, total: number): number {
  return (
    'progress'.length +
    Buffer.byteLength(JSON.stringify({ step, total, message: `step ${step} of ${total}` }))
  );
}

const STATUS = 'sse_resume_task_status';
const OPERATION = 'sse_resume_store_operation';

describe.each(ADAPTERS)('GET /metrics after a known workload (%s)', (adapter: Adapter) => {
  let server: RunningApp;
  let baseUrl: string;

  beforeAll(async () => {
    // History of 4 events: a stream from the start of a 5-step task gets a gap.
    server = await startApp(adapter, { TASK_HISTORY_LIMIT: '4' });
    baseUrl = server.baseUrl;
  });
  afterAll(() => server.close());

  it('Prometheus text format with exact counts of tasks, events, streams, resumes, gaps and store calls', async () => {
    const before = await scrape(baseUrl);
    expect(before.response.status).toBe(200);
    expect(before.response.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(before.value('sse_resume_tasks_started_total')).toBeUndefined();

    // A: 5 steps, completes (events 1..5, end 6; history keeps 3..6).
    const a = await createTask(baseUrl, { steps: 5, intervalMs: 0 });
    await waitForInfo(baseUrl, a, (info) => info.json.status === 'completed', 'A completed');
    // B: waits a minute before its first step; one stream open on it, then it is cancelled.
    const b = await createTask(baseUrl, { steps: 5, intervalMs: 60_000 });
    const bStream = openStream(baseUrl, b.streamUrl);
    await bStream.waitForFrames((frames) => frames.length >= 1, 'the open frame of B');
    const during = await scrape(baseUrl);
    expect(during.value('sse_resume_streams_open')).toBe(1);
    expect(during.value('sse_resume_tasks_running')).toBe(1);
    expect((await cancelTask(baseUrl, b.taskId, b.resumeKey)).status).toBe(202);
    await bStream.done;
    expect(eventFrames(bStream.frames()).map((f) => f.event)).toEqual(['end']); // live, not replayed
    // C: fails at step 3 (events 1, 2, end 3).
    const c = await createTask(baseUrl, { steps: 5, intervalMs: 0, failAt: 3 });
    await waitForInfo(baseUrl, c, (info) => info.json.status === 'failed', 'C failed');

    // A streamed twice: from the start (gap 1..2, then 3..6 from history), and resumed after 2.
    const full = await readStream(baseUrl, a.streamUrl);
    expect(eventFrames(parseFrames(full.text).frames).map((f) => `${f.event}:${idOf(f)}`)).toEqual([
      'gap:2',
      'progress:3',
      'progress:4',
      'progress:5',
      'end:6',
    ]);
    const resumed = await readStream(baseUrl, a.streamUrl, { 'Last-Event-ID': '2' });
    expect(eventFrames(parseFrames(resumed.text).frames).map(idOf)).toEqual([3, 4, 5, 6]);
    expect(await server.app.get(SseTaskService).evictExpired()).toBe(0);

    // Streams close on the server a moment after the client has read the end.
    let after = await scrape(baseUrl);
    for (let i = 0; i < 200 && after.value('sse_resume_streams_open') !== 0; i++) {
      await sleep(10);
      after = await scrape(baseUrl);
    }
    const { value } = after;
    expect(value('sse_resume_tasks_started_total')).toBe(3);
    expect(value('sse_resume_tasks_ended_total', { [STATUS]: 'completed' })).toBe(1);
    expect(value('sse_resume_tasks_ended_total', { [STATUS]: 'cancelled' })).toBe(1);
    expect(value('sse_resume_tasks_ended_total', { [STATUS]: 'failed' })).toBe(1);
    expect(value('sse_resume_tasks_running')).toBe(0);
    expect(value('sse_resume_events_emitted_total')).toBe(5 + 0 + 2);
    const bytes = [1, 2, 3, 4, 5, 1, 2].reduce((sum, step) => sum + demoEventBytes(step, 5), 0);
    expect(value('sse_resume_events_emitted_size_total')).toBe(bytes);
    expect(value('sse_resume_events_replayed_total')).toBe(4 + 4);
    expect(value('sse_resume_gaps_sent_total')).toBe(1);
    expect(value('sse_resume_streams_resumed_total')).toBe(1);
    expect(value('sse_resume_streams_open')).toBe(0);
    expect(value('sse_resume_eviction_runs_total')).toBe(1);
    expect(value('sse_resume_eviction_evicted_total')).toBeUndefined(); // nothing evicted yet
    expect(value('sse_resume_subscribers_dropped_total')).toBeUndefined();
    expect(after.samples.filter((s) => s.name === 'sse_resume_store_errors_total')).toEqual([]);
    // The store latency histogram: one observation per call, by operation.
    expect(value('sse_resume_store_operation_duration_count', { [OPERATION]: 'create' })).toBe(3);
    expect(value('sse_resume_store_operation_duration_count', { [OPERATION]: 'append' })).toBe(7);
    expect(value('sse_resume_store_operation_duration_count', { [OPERATION]: 'finish' })).toBe(3);
    expect(value('sse_resume_store_operation_duration_count', { [OPERATION]: 'watch' })).toBe(3);
    expect(value('sse_resume_store_operation_duration_bucket', { [OPERATION]: 'create', le: '+Inf' })).toBe(
      3,
    );
    expect(value('sse_resume_store_operation_duration_sum', { [OPERATION]: 'create' })).toBeLessThan(1);
    expect(after.response.text).toContain('# TYPE sse_resume_store_operation_duration histogram');
    expect(after.response.text).toContain('# UNIT sse_resume_store_operation_duration s');
    expect(after.response.text).toContain('# TYPE sse_resume_tasks_started_total counter');
    expect(after.response.text).toContain('# TYPE sse_resume_streams_open gauge');
    expect(after.response.text).toContain('# UNIT sse_resume_events_emitted_size_total By');
  });
});

describe('METRICS=off', () => {
  it('no /metrics route, and the app runs tasks as before', async () => {
    const server = await startApp('express', { METRICS: 'off' });
    try {
      expect((await requestJson(server.baseUrl, 'GET', '/metrics')).status).toBe(404);
      const task = await createTask(server.baseUrl, { steps: 2, intervalMs: 0 });
      const response = await readStream(server.baseUrl, task.streamUrl);
      expect(eventFrames(parseFrames(response.text).frames).map((f) => f.event)).toEqual([
        'progress',
        'progress',
        'end',
      ]);
    } finally {
      await server.close();
    }
  });
});
