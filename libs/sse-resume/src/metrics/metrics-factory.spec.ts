import type { SseResumeMeter, SseResumeMetricsOptions } from '../interfaces/metrics.interface';
import { createTestMeter } from '../testing/metrics';
import { BAD_METRICS_OPTION, createSseResumeMetrics } from './metrics-factory';
import { type OpenTelemetryApi, OtelSseResumeMetrics } from './otel-metrics';
import { NOOP_METRICS } from './sse-resume-metrics';

const noopMeter: SseResumeMeter = {
  createCounter: () => ({ add: () => undefined }),
  createUpDownCounter: () => ({ add: () => undefined }),
  createHistogram: () => ({ record: () => undefined }),
};

/** An `@opentelemetry/api` whose global provider gives `meter`. */
function api(meter: SseResumeMeter): OpenTelemetryApi & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    metrics: {
      getMeter: (name) => {
        asked.push(name);
        return meter;
      },
    },
    createNoopMeter: () => noopMeter,
  };
}

const absent = () => Promise.resolve(undefined);
const failLoad = () => Promise.reject(new Error('must not load @opentelemetry/api'));

describe('createSseResumeMetrics', () => {
  it('false: no metrics, and @opentelemetry/api is not even loaded', async () => {
    expect(await createSseResumeMetrics(false, failLoad)).toBe(NOOP_METRICS);
  });

  it('{ meter }: that meter, without loading the api', async () => {
    const test = createTestMeter();
    const metrics = await createSseResumeMetrics({ meter: test.meter }, failLoad);
    expect(metrics).toBeInstanceOf(OtelSseResumeMetrics);
    metrics.taskStarted();
    expect((await test.collect()).value('sse_resume.tasks.started')).toBe(1);
    await test.shutdown();
  });

  it('omitted, @opentelemetry/api absent: the no-op', async () => {
    expect(await createSseResumeMetrics(undefined, absent)).toBe(NOOP_METRICS);
    expect(await createSseResumeMetrics({}, absent)).toBe(NOOP_METRICS);
  });

  it("omitted, no MeterProvider registered (the api's no-op meter): the no-op, nothing measured", async () => {
    const global = api(noopMeter);
    expect(await createSseResumeMetrics(undefined, () => Promise.resolve(global))).toBe(NOOP_METRICS);
    expect(global.asked).toEqual(['nest-sse-resume']);
  });

  it('omitted, a MeterProvider registered: its meter named nest-sse-resume', async () => {
    const test = createTestMeter();
    const global = api(test.meter);
    const metrics = await createSseResumeMetrics(undefined, () => Promise.resolve(global));
    expect(metrics).toBeInstanceOf(OtelSseResumeMetrics);
    expect(metrics.enabled).toBe(true);
    await test.shutdown();
  });

  it('omitted, with the real api and no provider registered: the no-op', async () => {
    expect(await createSseResumeMetrics(undefined)).toBe(NOOP_METRICS);
  });

  it.each([
    ['true', true],
    ['a string', 'otel'],
    ['null', null],
    ['a meter that is not one', { meter: { createCounter: () => undefined } }],
    ['a meter that is a string', { meter: 'meter' }],
  ])('refuses %s at boot, naming the option', async (_what, option) => {
    await expect(
      createSseResumeMetrics(option as unknown as SseResumeMetricsOptions, absent),
    ).rejects.toThrow(BAD_METRICS_OPTION);
  });

  it('the no-op records nothing and says so', () => {
    expect(NOOP_METRICS.enabled).toBe(false);
    expect(Object.isFrozen(NOOP_METRICS)).toBe(true);
    expect(() => NOOP_METRICS.storeOperation('append', 1, true)).not.toThrow();
  });
});
