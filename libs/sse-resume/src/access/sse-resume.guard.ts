import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { SseTaskService } from '../sse-task.service';
import {
  readLastEventId,
  readResumeKey,
  readTaskId,
  type ResumeRequest,
  routeOptions,
} from './sse-resume.request';

/**
 * Checks an SSE request before Nest sends the first byte. Nest commits an `@Sse()`
 * response's head one timer tick after the handler is subscribed, so a check that awaits
 * a networked store inside the handler could lose the race and turn a 404 into a 200
 * stream. Guards run before that, so their errors keep their status.
 */
@Injectable()
export class SseResumeGuard implements CanActivate {
  constructor(
    private readonly tasks: SseTaskService,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const options = routeOptions(this.reflector, context);
    const request = context.switchToHttp().getRequest<ResumeRequest>();
    const taskId = readTaskId(request, options, '@SseResume()');
    const lastEventId = readLastEventId(request);
    const resumeKey = readResumeKey(request, options.keyQuery);
    await this.tasks.authorizeStream(taskId, { resumeKey, lastEventId }, request);
    return true;
  }
}

/**
 * Checks the resume key (and the `authorize` option) of a non-stream route about one task,
 * such as a status or cancel endpoint. Use it through `@TaskAccess()`.
 */
@Injectable()
export class TaskAccessGuard implements CanActivate {
  constructor(
    private readonly tasks: SseTaskService,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const options = routeOptions(this.reflector, context);
    const request = context.switchToHttp().getRequest<ResumeRequest>();
    const taskId = readTaskId(request, options, '@TaskAccess()');
    await this.tasks.authorizeRequest(request, taskId, readResumeKey(request, options.keyQuery));
    return true;
  }
}
