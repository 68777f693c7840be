import {
  BadRequestException,
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  Param,
  Post,
  Sse,
  type MessageEvent,
} from '@nestjs/common';
import {
  LastEventId,
  ResumeCookie,
  ResumeKey,
  SseResume,
  SseTaskService,
  TaskAccess,
  type TaskInfo,
} from '@app/sse-resume';
import type { Observable } from 'rxjs';
import { ApiTags } from '@nestjs/swagger';
import { APP_CONFIG, type AppConfig } from '../config';
import { CreateTaskPipe, type CreateTaskDto } from './create-task.pipe';
import { runDemoTask } from './demo-task';
import { DEMO_TASK } from './demo-task.handler';
import { ApiCancelTask, ApiStartTask, ApiTaskEvents, ApiTaskInfo } from './tasks.openapi';

export interface CreatedTask {
  taskId: string;
  resumeKey: string;
  streamUrl: string;
}

@ApiTags('tasks')
@Controller('tasks')
export class TasksController {
  constructor(
    private readonly tasks: SseTaskService,
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'durable'>,
  ) {}

  /**
   * Starts a demo task; the client keeps `resumeKey` to stream, query and cancel it. The
   * response also sets the cookie `sse-resume-<taskId>` (Path=/tasks/<taskId>), so a
   * browser's `EventSource` and requests to this task need no key in the URL.
   * `durable: true` runs it as a BullMQ job that any worker may run (and take over).
   */
  @Post()
  @HttpCode(201)
  @ResumeCookie()
  @ApiStartTask()
  async create(@Body(CreateTaskPipe) body: CreateTaskDto): Promise<CreatedTask> {
    const { durable, ...input } = body;
    if (durable && this.config.durable === undefined) {
      throw new BadRequestException('durable tasks need Redis: set REDIS_URL (or REDIS_CLUSTER_NODES)');
    }
    const { taskId, resumeKey } = durable
      ? await this.tasks.start(DEMO_TASK, input, { durable: true })
      : await this.tasks.start((context) => runDemoTask(context, input));
    return { taskId, resumeKey, streamUrl: `/tasks/${taskId}/events?key=${resumeKey}` };
  }

  /** The task's events; resumes after `Last-Event-ID` (or `?lastEventId=`). */
  @Sse(':taskId/events')
  @SseResume()
  @ApiTaskEvents()
  events(
    @Param('taskId') taskId: string,
    @ResumeKey() resumeKey: string | undefined,
    @LastEventId() lastEventId: number | undefined,
  ): Observable<MessageEvent> {
    return this.tasks.stream(taskId, { resumeKey, lastEventId });
  }

  @Get(':taskId')
  @TaskAccess()
  @ApiTaskInfo()
  async info(
    @Param('taskId') taskId: string,
    @ResumeKey() resumeKey: string | undefined,
  ): Promise<Omit<TaskInfo, 'subscriberIds'>> {
    const { subscriberIds: _ids, ...info } = await this.tasks.getTaskInfo(taskId, { resumeKey });
    return info;
  }

  /** Cancels the task: its signal aborts and every stream ends with `end` status `cancelled`. */
  @Delete(':taskId')
  @HttpCode(202)
  @TaskAccess()
  @ApiCancelTask()
  async cancel(
    @Param('taskId') taskId: string,
    @ResumeKey() resumeKey: string | undefined,
  ): Promise<{ taskId: string; status: 'cancelled' }> {
    await this.tasks.cancel(taskId, 'Cancelled by the client', { resumeKey });
    return { taskId, status: 'cancelled' };
  }
}
