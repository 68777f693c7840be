/**
 * Types of the `metrics` option. Declared without `@opentelemetry/api`'s types, so that the
 * main entry point compiles for users who do not install it (an optional peer): an
 * OpenTelemetry `Meter` fits {@link SseResumeMeter} as it is.
 */

/** Attributes of one measurement (pre-built by the library: no object per measurement). */
export type SseResumeMetricAttributes = Readonly<Record<string, string>>;

/** What the library passes when it creates an instrument (a subset of OpenTelemetry's `MetricOptions`). */
export interface SseResumeInstrumentOptions {
  description?: string;
  /** UCUM unit: `{task}`, `{event}`, `By`, `s`, ... */
  unit?: string;
  advice?: { explicitBucketBoundaries?: number[] };
}

/** A counter or up-down counter. */
export interface SseResumeCounter {
  add(value: number, attributes?: SseResumeMetricAttributes): void;
}

export interface SseResumeHistogram {
  record(value: number, attributes?: SseResumeMetricAttributes): void;
}

/** The part of an OpenTelemetry `Meter` (`@opentelemetry/api`) the library uses. */
export interface SseResumeMeter {
  createCounter(name: string, options?: SseResumeInstrumentOptions): SseResumeCounter;
  createUpDownCounter(name: string, options?: SseResumeInstrumentOptions): SseResumeCounter;
  createHistogram(name: string, options?: SseResumeInstrumentOptions): SseResumeHistogram;
}

/**
 * The `metrics` option:
 * - omitted (or `{}`): the global OpenTelemetry meter (`metrics.getMeter('nest-sse-resume')`)
 *   when `@opentelemetry/api` is installed and a `MeterProvider` was registered before the
 *   module started; otherwise nothing is recorded;
 * - `{ meter }`: that meter (e.g. your `MeterProvider`'s `getMeter('nest-sse-resume')`);
 * - `false`: no metrics, no measuring at all.
 */
export type SseResumeMetricsOptions = false | { meter?: SseResumeMeter };
