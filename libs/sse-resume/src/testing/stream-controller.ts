import { Controller, type MessageEvent, Param, Sse } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { LastEventId, ResumeKey, SseResume } from '../sse-resume.decorators';
import { SseTaskService } from '../sse-task.service';

/**
 * The task streams of the library's test app ({@link startTestApp}), the same route twice
 * (test helper, not part of the public API): `GET /tasks/:taskId/events` with
 * `@SseResume()`, and `GET /tasks/:taskId/nest-events`, a plain `@Sse()` where Nest writes
 * every message itself (and would turn an error into `event: error`).
 */
@Controller('tasks')
export class TaskStreamController {
  constructor(private readonly tasks: SseTaskService) {}

  /** The library's writer: guard before the head, interceptor writing frames itself. */
  @Sse(':taskId/events')
  @SseResume()
  events(
    @Param('taskId') taskId: string,
    @ResumeKey() resumeKey: string | undefined,
    @LastEventId() lastEventId: number | undefined,
  ): Observable<MessageEvent> {
    return this.tasks.stream(taskId, { resumeKey, lastEventId });
  }

  /** Without @SseResume(): Nest writes every MessageEvent itself. */
  @Sse(':taskId/nest-events')
  nestEvents(
    @Param('taskId') taskId: string,
    @ResumeKey() resumeKey: string | undefined,
    @LastEventId() lastEventId: number | undefined,
  ): Observable<MessageEvent> {
    return this.tasks.stream(taskId, { resumeKey, lastEventId });
  }
}
