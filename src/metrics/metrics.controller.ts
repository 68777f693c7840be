import { Controller, Get, Header, Inject } from '@nestjs/common';
import { AppMetrics, PROMETHEUS_CONTENT_TYPE } from './app-metrics';

@Controller()
export class MetricsController {
  constructor(@Inject(AppMetrics) private readonly metrics: AppMetrics) {}

  /** Prometheus scrapes this (text format 0.0.4). */
  @Get('metrics')
  @Header('Content-Type', PROMETHEUS_CONTENT_TYPE)
  @Header('Cache-Control', 'no-store')
  scrape(): Promise<string> {
    return this.metrics.scrape();
  }
}
