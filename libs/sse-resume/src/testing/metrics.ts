import type { Meter } from '@opentelemetry/api';
import {
  DataPointType,
  type Histogram,
  MeterProvider,
  MetricReader,
  type MetricData,
} from '@opentelemetry/sdk-metrics';

/** A reader that only collects on demand. */
class OnDemandReader extends MetricReader {
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }

  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

/** What one collection found (test helper, not part of the public API). */
export class MetricsSnapshot {
  constructor(private readonly metrics: readonly MetricData[]) {}

  /** Instrument names that have data. */
  get names(): string[] {
    return this.metrics.map((m) => m.descriptor.name).sort();
  }

  descriptor(name: string): MetricData['descriptor'] | undefined {
    return this.find(name)?.descriptor;
  }

  /**
   * A counter's or up-down counter's value for exactly these attributes; a histogram's count.
   * `undefined` when nothing was recorded with them.
   */
  value(name: string, attributes: Record<string, string> = {}): number | undefined {
    const point = this.point(name, attributes);
    if (point === undefined) return undefined;
    return typeof point.value === 'number' ? point.value : (point.value as Histogram).count;
  }

  histogram(name: string, attributes: Record<string, string> = {}): Histogram | undefined {
    const metric = this.find(name);
    if (metric?.dataPointType !== DataPointType.HISTOGRAM) return undefined;
    return this.point(name, attributes)?.value as Histogram | undefined;
  }

  /** Every attribute set recorded for an instrument. */
  attributeSets(name: string): Record<string, unknown>[] {
    return (this.find(name)?.dataPoints ?? []).map((p) => ({ ...p.attributes }));
  }

  private find(name: string): MetricData | undefined {
    return this.metrics.find((m) => m.descriptor.name === name);
  }

  private point(name: string, attributes: Record<string, string>) {
    const key = JSON.stringify(Object.entries(attributes).sort());
    const points = (this.find(name)?.dataPoints ?? []) as { attributes: object; value: unknown }[];
    return points.find((p) => JSON.stringify(Object.entries(p.attributes).sort()) === key);
  }
}

export interface TestMeter {
  meter: Meter;
  collect(): Promise<MetricsSnapshot>;
  shutdown(): Promise<void>;
}

/** An OpenTelemetry SDK meter whose measurements a test reads back (cumulative). */
export function createTestMeter(): TestMeter {
  const reader = new OnDemandReader();
  const provider = new MeterProvider({ readers: [reader] });
  return {
    meter: provider.getMeter('nest-sse-resume'),
    collect: async () => {
      const { resourceMetrics, errors } = await reader.collect();
      if (errors.length > 0) throw new AggregateError(errors, 'metrics collection failed');
      return new MetricsSnapshot(resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics));
    },
    shutdown: () => provider.shutdown(),
  };
}
