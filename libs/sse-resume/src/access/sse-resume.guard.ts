import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { SseTaskService } from '../sse-task.service';
import {
  readLastEventId,
  readResumeKey,
  readTaskId,
  type ResumeRequest,
  routeOptions,
  type SseResumeRouteOptions,
} from './sse-resume.request';

/**
 * What both guards share: read the route's settings and the task id, then run the check.
 * Subclasses override `check` (a protected extension point, as nestjs/throttler's guard has).
 * Decorated so that its constructor's parameter types are emitted for Nest to inject.
 */
@Injectable()
abstract class TaskRouteGuard implements CanActivate {
  /** Names the decorator in the message of a route without a task id parameter. */
  protected abstract readonly decorator: string;

  constructor(
    protected readonly tasks: SseTaskService,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const options = routeOptions(this.reflector, context);
    const request = context.switchToHttp().getRequest<ResumeRequest>();
    await this.check(request, readTaskId(request, options, this.decorator), options);
    return true;
  }

  /** Throws the library's typed error when the request may not proceed. */
  protected abstract check(
    request: ResumeRequest,
    taskId: string,
    options: SseResumeRouteOptions,
  ): Promise<void>;
}

/**
 * Checks an SSE request before Nest sends the first byte. Nest commits an `@Sse()`
 * response's head one timer tick after the handler is subscribed, so a check that awaits
 * a networked store inside the handler could lose the race and turn a 404 into a 200
 * stream. Guards run before that, so their errors keep their status.
 */
@Injectable()
export class SseResumeGuard extends TaskRouteGuard {
  protected readonly decorator = '@SseResume()';

  protected async check(
    request: ResumeRequest,
    taskId: string,
    options: SseResumeRouteOptions,
  ): Promise<void> {
    const streamOptions = {
      resumeKey: readResumeKey(request, options.keyQuery, taskId),
      lastEventId: readLastEventId(request),
    };
    await this.tasks.authorizeStream(taskId, streamOptions, request);
  }
}

/**
 * Checks the resume key (and the `authorize` option) of a non-stream route about one task,
 * such as a status or cancel endpoint. Use it through `@TaskAccess()`.
 */
@Injectable()
export class TaskAccessGuard extends TaskRouteGuard {
  protected readonly decorator = '@TaskAccess()';

  protected async check(
    request: ResumeRequest,
    taskId: string,
    options: SseResumeRouteOptions,
  ): Promise<void> {
    await this.tasks.authorizeRequest(request, taskId, readResumeKey(request, options.keyQuery, taskId));
  }
}
