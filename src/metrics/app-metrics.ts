import { Logger } from '@nestjs/common';
import type { Meter } from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';

/** Content type of the Prometheus text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * The example app's OpenTelemetry metrics: one `MeterProvider` per app (not the global one,
 * so that several apps in one process, as in the e2e tests, keep their own counts) read by a
 * `PrometheusExporter` whose own HTTP server stays off: `GET /metrics` serves its output
 * through Nest ({@link MetricsController}).
 */
export class AppMetrics {
  private readonly logger = new Logger('Metrics');
  private readonly exporter = new PrometheusExporter({ preventServerStart: true });
  /** The exporter's own serializer settings (its defaults). */
  private readonly serializer = new PrometheusSerializer();
  private readonly provider = new MeterProvider({ readers: [this.exporter] });
  /** Handed to the library: `SseResumeModule.forRoot({ metrics: { meter } })`. */
  readonly meter: Meter = this.provider.getMeter('nest-sse-resume');

  /** What the exporter's request handler would answer: every metric, Prometheus text format. */
  async scrape(): Promise<string> {
    const { resourceMetrics, errors } = await this.exporter.collect();
    for (const error of errors) {
      this.logger.warn(`metrics collection: ${error instanceof Error ? error.message : String(error)}`);
    }
    return this.serializer.serialize(resourceMetrics);
  }

  shutdown(): Promise<void> {
    return this.provider.shutdown();
  }
}
