import type { SseResumeMetricsOptions } from '../interfaces/metrics.interface';
import {
  loadOpenTelemetryApi,
  METER_NAME,
  type OpenTelemetryApi,
  OtelSseResumeMetrics,
} from './otel-metrics';
import { NOOP_METRICS, type SseResumeMetrics } from './sse-resume-metrics';

/** The option is neither `false` nor `{ meter? }` with a meter. */
export const BAD_METRICS_OPTION =
  'SseResumeModule: option metrics must be false or { meter? }, meter an OpenTelemetry Meter (createCounter, createUpDownCounter, createHistogram)';

/**
 * The module's metrics from its `metrics` option: `false` → none; `{ meter }` → that meter;
 * omitted → the global OpenTelemetry meter if `@opentelemetry/api` is installed and a
 * `MeterProvider` is registered, else none. A meter of the API's no-op provider stays a
 * no-op for good (the metrics API has no proxy that a later registration would reach), so
 * it is replaced by {@link NOOP_METRICS}: nothing measured for nothing.
 */
export async function createSseResumeMetrics(
  option: SseResumeMetricsOptions | undefined,
  loadApi: () => Promise<OpenTelemetryApi | undefined> = loadOpenTelemetryApi,
): Promise<SseResumeMetrics> {
  if (option === false) return NOOP_METRICS;
  if (option !== undefined && (typeof option !== 'object' || option === null)) {
    throw new Error(BAD_METRICS_OPTION);
  }
  const given = option?.meter;
  if (given !== undefined) {
    const methods = ['createCounter', 'createUpDownCounter', 'createHistogram'] as const;
    if (typeof given !== 'object' || given === null || methods.some((m) => typeof given[m] !== 'function')) {
      throw new Error(BAD_METRICS_OPTION);
    }
    return new OtelSseResumeMetrics(given);
  }
  const api = await loadApi();
  if (api === undefined) return NOOP_METRICS;
  const meter = api.metrics.getMeter(METER_NAME);
  return meter === api.createNoopMeter() ? NOOP_METRICS : new OtelSseResumeMetrics(meter);
}
