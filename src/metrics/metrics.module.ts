import { type DynamicModule, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import type { SseResumeMetricsOptions } from '@app/sse-resume';
import type { AppConfig } from '../config';
import { AppMetrics } from './app-metrics';
import { MetricsController } from './metrics.controller';

/** Serves `GET /metrics` and shuts the app's `MeterProvider` down with the app. */
@Module({})
export class MetricsModule implements OnApplicationShutdown {
  constructor(@Inject(AppMetrics) private readonly metrics: AppMetrics) {}

  static register(metrics: AppMetrics): DynamicModule {
    return {
      module: MetricsModule,
      providers: [{ provide: AppMetrics, useValue: metrics }],
      controllers: [MetricsController],
    };
  }

  onApplicationShutdown(): Promise<void> {
    return this.metrics.shutdown();
  }
}

/** What the app module needs: the library's `metrics` option and the modules to import. */
export interface MetricsWiring {
  library: SseResumeMetricsOptions;
  imports: DynamicModule[];
}

/** `METRICS=on` (default): a meter for the library and `GET /metrics`; `off`: neither. */
export function metricsWiring(config: Pick<AppConfig, 'metrics'>): MetricsWiring {
  if (!config.metrics) return { library: false, imports: [] };
  const metrics = new AppMetrics();
  return { library: { meter: metrics.meter }, imports: [MetricsModule.register(metrics)] };
}
