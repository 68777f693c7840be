import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnModuleInit,
  Optional,
} from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { EVICTION_JOB_NAME } from './sse-resume.constants';
import { LOGGER_NAME, MISSING_SCHEDULE_MODULE } from './sse-resume.messages';
import { errorStack, errorText, logRecord } from './log-record';
import { SSE_RESUME_RESOLVED_OPTIONS } from './sse-resume.module-definition';
import type { ResolvedSseResumeOptions } from './interfaces/sse-resume-options.interface';
import { TaskStore } from './interfaces/task-store.interface';
import { SseTaskService } from './sse-task.service';

/**
 * The TTL eviction job, registered with `@nestjs/schedule`'s `SchedulerRegistry` as an
 * interval (`sse-resume:evict`) and removed on shutdown.
 */
@Injectable()
export class TaskEvictionService implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(LOGGER_NAME);
  private jobName: string | undefined;
  private running = false;

  constructor(
    private readonly tasks: SseTaskService,
    @Inject(TaskStore) private readonly store: TaskStore,
    @Inject(SSE_RESUME_RESOLVED_OPTIONS) private readonly options: ResolvedSseResumeOptions,
    @Optional() private readonly registry?: SchedulerRegistry,
  ) {}

  onModuleInit(): void {
    if (!this.registry) throw new Error(MISSING_SCHEDULE_MODULE);
  }

  onApplicationBootstrap(): void {
    const registry = this.registry!;
    let name = EVICTION_JOB_NAME;
    for (let n = 2; registry.doesExist('interval', name); n++) name = `${EVICTION_JOB_NAME}:${n}`;
    registry.addInterval(
      name,
      setInterval(() => void this.evict(), this.intervalMs),
    );
    this.jobName = name;
  }

  /** The option, or the store's maintenance interval when that is shorter (orphan detection). */
  get intervalMs(): number {
    return Math.min(this.options.evictionIntervalMs, this.store.maintenanceIntervalMs ?? Infinity);
  }

  /** One run of the job; overlapping runs are skipped. Resolves to the number of tasks evicted. */
  async evict(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    try {
      const evicted = await this.tasks.evictExpired();
      if (evicted > 0) this.logger.debug?.(logRecord('expired tasks evicted', { count: evicted }));
      return evicted;
    } catch (err) {
      this.logger.error(logRecord('task eviction failed', { error: errorText(err) }), errorStack(err));
      return 0;
    } finally {
      this.running = false;
    }
  }

  beforeApplicationShutdown(): void {
    const name = this.jobName;
    this.jobName = undefined;
    if (name && this.registry?.doesExist('interval', name)) this.registry.deleteInterval(name);
  }
}
