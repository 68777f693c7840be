import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { DEFAULT_KEY_QUERY, DEFAULT_TASK_ID_PARAMS } from './sse-resume.constants';
import {
  readResumeKey,
  type ResumeRequest,
  SSE_RESUME_ROUTE_OPTIONS,
  type SseResumeRouteOptions,
} from './sse-resume.decorators';
import { SseTaskService } from './sse-task.service';
import { parseResumePoint } from './sse-stream';

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
    const lastEventId = parseResumePoint(request.headers['last-event-id'], request.query?.lastEventId);
    const resumeKey = readResumeKey(request, options.keyQuery ?? DEFAULT_KEY_QUERY);
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
    await this.tasks.authorizeRequest(
      request,
      taskId,
      readResumeKey(request, options.keyQuery ?? DEFAULT_KEY_QUERY),
    );
    return true;
  }
}

function routeOptions(reflector: Reflector, context: ExecutionContext): SseResumeRouteOptions {
  return (
    reflector.getAllAndOverride<SseResumeRouteOptions | undefined>(SSE_RESUME_ROUTE_OPTIONS, [
      context.getHandler(),
      context.getClass(),
    ]) ?? {}
  );
}

function readTaskId(request: ResumeRequest, options: SseResumeRouteOptions, decorator: string): string {
  const names = options.taskIdParam ? [options.taskIdParam] : DEFAULT_TASK_ID_PARAMS;
  const taskId = names.map((name) => request.params?.[name]).find((value) => typeof value === 'string');
  if (taskId === undefined) {
    throw new Error(
      `${decorator}: the route has no parameter ${names.join(' or ')}; set taskIdParam to the one holding the task id`,
    );
  }
  return taskId;
}
