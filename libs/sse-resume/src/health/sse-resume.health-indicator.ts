import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { TaskStore } from '../interfaces/task-store.interface';
import { SseTaskService } from '../sse-task.service';
import { DEFAULT_HEALTH_TIMEOUT_MS, probeStore } from './store-health-probe';

export interface SseResumeHealthOptions {
  /** Longest wait for the store (Redis: its `PING`); past it the indicator is `down`. Default 1000. */
  timeoutMs?: number;
}

/**
 * A `@nestjs/terminus` health indicator for nest-sse-resume (`nest-sse-resume/terminus`):
 * `up` when the task store answers within the timeout (with its latency and details, e.g.
 * Redis's connection states and failed lease renewals), `down` with the reason otherwise;
 * both with this instance's running tasks and open streams.
 *
 * ```ts
 * providers: [SseResumeHealthIndicator]   // in the module that imports SseResumeModule and TerminusModule
 *
 * @Get('health') @HealthCheck()
 * check() { return this.health.check([() => this.sseResume.isHealthy('sseResume')]); }
 * ```
 */
@Injectable()
export class SseResumeHealthIndicator {
  constructor(
    private readonly indicator: HealthIndicatorService,
    private readonly tasks: SseTaskService,
    @Inject(TaskStore) private readonly store: TaskStore,
  ) {}

  async isHealthy<const Key extends string = 'sseResume'>(
    key: Key = 'sseResume' as Key,
    options: SseResumeHealthOptions = {},
  ): Promise<HealthIndicatorResult<Key>> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS;
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1) {
      throw new RangeError(`timeoutMs must be a positive integer, got ${timeoutMs}`);
    }
    const { status, ...store } = await probeStore(this.store, timeoutMs);
    const data = { ...store, ...this.tasks.stats };
    const session = this.indicator.check(key);
    return status === 'up' ? session.up(data) : session.down(data);
  }
}
