import { ScheduleModule } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import { SseResumeModule } from '../sse-resume.module';
import { SseTaskService } from '../sse-task.service';
import { collect, waitFor } from '../testing/async';
import { loadOpenTelemetryApi } from './otel-metrics';
import { NOOP_METRICS, SSE_RESUME_METRICS, type SseResumeMetrics } from './sse-resume-metrics';

// As if @opentelemetry/api were not installed: requiring it fails the way Node fails.
jest.mock('@opentelemetry/api', () => {
  throw Object.assign(new Error("Cannot find module '@opentelemetry/api' from 'otel-metrics.ts'"), {
    code: 'MODULE_NOT_FOUND',
  });
});

async function runOneTask(service: SseTaskService): Promise<string> {
  const task = await service.start(async ({ emit }) => {
    await emit({ n: 1 });
    return 'ok';
  });
  await waitFor(() => service.stats.runningTasks === 0, 'the end');
  const collected = collect(service.stream(task.taskId, { resumeKey: task.resumeKey }));
  await collected.done;
  return String(collected.values[collected.values.length - 1]?.type);
}

describe('without @opentelemetry/api (an optional peer)', () => {
  it('the loader finds it absent', async () => {
    expect(await loadOpenTelemetryApi()).toBeUndefined();
  });

  it('the module boots with metrics omitted, records nothing, and tasks and streams work', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [ScheduleModule.forRoot(), SseResumeModule.forRoot()],
    }).compile();
    await moduleRef.init();
    try {
      expect(moduleRef.get(SSE_RESUME_METRICS)).toBe(NOOP_METRICS);
      expect(await runOneTask(moduleRef.get(SseTaskService))).toBe('end');
    } finally {
      await moduleRef.close();
    }
  });

  it('{ meter } still works: given a meter, the library never needs the api itself', async () => {
    const added: Record<string, number> = {};
    const instrument = (name: string) => ({
      add: (value: number) => (added[name] = (added[name] ?? 0) + value),
      record: () => undefined,
    });
    const meter = { createCounter: instrument, createUpDownCounter: instrument, createHistogram: instrument };
    const moduleRef = await Test.createTestingModule({
      imports: [ScheduleModule.forRoot(), SseResumeModule.forRoot({ metrics: { meter } })],
    }).compile();
    await moduleRef.init();
    try {
      expect(await runOneTask(moduleRef.get(SseTaskService))).toBe('end');
      expect(added).toMatchObject({ 'sse_resume.tasks.started': 1, 'sse_resume.events.emitted': 1 });
    } finally {
      await moduleRef.close();
    }
  });

  it('the seam can be replaced: an injected no-op (or any SseResumeMetrics) is used as is', async () => {
    const calls: string[] = [];
    const record =
      (name: string) =>
      (...args: unknown[]) =>
        calls.push(`${name}(${args.length})`);
    const spy = Object.fromEntries(
      Object.keys(NOOP_METRICS).map((name) => [name, name === 'enabled' ? true : record(name)]),
    ) as unknown as SseResumeMetrics;
    const moduleRef = await Test.createTestingModule({
      imports: [ScheduleModule.forRoot(), SseResumeModule.forRoot({ metrics: false })],
    })
      .overrideProvider(SSE_RESUME_METRICS)
      .useValue(spy)
      .compile();
    await moduleRef.init();
    try {
      expect(await runOneTask(moduleRef.get(SseTaskService))).toBe('end');
      expect(calls).toEqual(expect.arrayContaining(['taskStarted(0)', 'eventEmitted(1)', 'taskEnded(1)']));
      expect(calls).toContain('storeOperation(3)');
    } finally {
      await moduleRef.close();
    }
  });
});
