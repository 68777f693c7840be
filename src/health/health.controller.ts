import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService, type HealthCheckResult } from '@nestjs/terminus';
import { SseResumeHealthIndicator } from '@app/sse-resume/terminus';

/**
 * `GET /health`: 200 `{ status: 'ok', info: { sseResume: {...} } }` while the task store
 * answers (within 1 s), 503 `{ status: 'error', error: { sseResume: { message, ... } } }`
 * when it does not (and while the app shuts down). Either way with the store's details and
 * this instance's running tasks and open streams.
 */
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly sseResume: SseResumeHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check(): Promise<HealthCheckResult> {
    return this.health.check([() => this.sseResume.isHealthy('sseResume')]);
  }
}
