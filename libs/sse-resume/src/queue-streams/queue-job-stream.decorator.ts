import {
  applyDecorators,
  type CallHandler,
  type CanActivate,
  type ExecutionContext,
  Injectable,
  type MessageEvent,
  type NestInterceptor,
  SetMetadata,
  UseGuards,
  UseInterceptors,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Observable } from 'rxjs';
import { readLastEventId, type ResumeRequest } from '../access/sse-resume.request';
import { QueueStreamService } from './queue-stream.service';

/** What `@QueueJobStream()` leaves on its handler. */
export interface QueueJobStreamRoute {
  queue: string;
  /** Route parameter holding the job id. Default `jobId`. */
  jobIdParam?: string;
}

export const QUEUE_JOB_STREAM_ROUTE = Symbol('QUEUE_JOB_STREAM_ROUTE');

/** Reads route metadata only: needs no injection. */
const reflector = new Reflector();

/** What the guard opened, for the interceptor of the same request. */
const openedStreams = new WeakMap<object, Observable<MessageEvent>>();

/**
 * Streams the job of `queue` named by the route's `:jobId` (or `jobIdParam`) on an `@Sse()`
 * handler, whose own body is not called: the task is made on first request, and the
 * stream resumes after `Last-Event-ID` (or `?lastEventId=`). Refusals (404, 410, 400, 204)
 * are answered by a guard, before the head. There is no resume key to present: guard the
 * route as the job's data deserves.
 *
 * ```ts
 * @Sse('mail-jobs/:jobId/events')
 * @QueueJobStream('mail')
 * events(): void {}
 * ```
 */
export function QueueJobStream(queue: string, options: { jobIdParam?: string } = {}): MethodDecorator {
  return applyDecorators(
    SetMetadata(QUEUE_JOB_STREAM_ROUTE, { queue, ...options } satisfies QueueJobStreamRoute),
    UseGuards(QueueJobStreamGuard),
    UseInterceptors(QueueJobStreamInterceptor),
  );
}

/** Opens the job's stream (access and checks) before the response head. */
@Injectable()
export class QueueJobStreamGuard implements CanActivate {
  constructor(private readonly bridge: QueueStreamService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const route = reflector.get<QueueJobStreamRoute | undefined>(
      QUEUE_JOB_STREAM_ROUTE,
      context.getHandler(),
    );
    if (route === undefined) throw new Error('QueueJobStreamGuard: use it through @QueueJobStream(queue)');
    const request = context.switchToHttp().getRequest<ResumeRequest>();
    const param = route.jobIdParam ?? 'jobId';
    const jobId = request.params?.[param];
    if (jobId === undefined) {
      throw new Error(
        `@QueueJobStream(): the route has no parameter ${param}; set jobIdParam to the one holding the job id`,
      );
    }
    const stream = await this.bridge.stream(route.queue, jobId, { lastEventId: readLastEventId(request) });
    openedStreams.set(request, stream);
    return true;
  }
}

/** Replaces the handler of a `@QueueJobStream()` route with the stream its guard opened. */
@Injectable()
export class QueueJobStreamInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, _next: CallHandler): Observable<MessageEvent> {
    const stream = openedStreams.get(context.switchToHttp().getRequest<object>());
    if (stream === undefined)
      throw new Error('QueueJobStreamInterceptor: use it through @QueueJobStream(queue)');
    return stream;
  }
}
