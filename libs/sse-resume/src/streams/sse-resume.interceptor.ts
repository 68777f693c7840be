import {
  type CallHandler,
  type ExecutionContext,
  Inject,
  Injectable,
  Logger,
  type NestInterceptor,
  Optional,
} from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { Observable } from 'rxjs';
import { SSE_RESUME_RESOLVED_OPTIONS } from '../sse-resume.module-definition';
import type { ResolvedSseResumeOptions } from '../interfaces/sse-resume-options.interface';
import { ResponseSink } from './response-sink';
import { runWithStreamRequest } from './stream-request';
import { type OpenMessage, SUBSCRIPTION_HANDLE } from './task-subscription';
import { LOGGER_NAME } from '../sse-resume.messages';
import { errorStack, errorText, type LogFields, logRecord } from '../log-record';
import { NOOP_METRICS, SSE_RESUME_METRICS, type SseResumeMetrics } from '../metrics/sse-resume-metrics';

function isOpenMessage(value: unknown): value is OpenMessage {
  return typeof value === 'object' && value !== null && SUBSCRIPTION_HANDLE in value;
}

function rawResponse(response: unknown): ServerResponse | undefined {
  const raw = (response as { raw?: unknown } | undefined)?.raw ?? response;
  const candidate = raw as Partial<ServerResponse> | undefined;
  return typeof candidate?.write === 'function' && typeof candidate.writableLength === 'number'
    ? (raw as ServerResponse)
    : undefined;
}

/**
 * Lets a library stream write its frames itself instead of through Nest's one-write-per-
 * event pipeline. The handler still returns an Observable; Nest still sends the head,
 * watches the connection and ends the response when the Observable completes. Other
 * values pass through untouched.
 */
@Injectable()
export class SseResumeInterceptor implements NestInterceptor {
  private readonly logger = new Logger(LOGGER_NAME);

  constructor(
    @Inject(SSE_RESUME_RESOLVED_OPTIONS) private readonly options: ResolvedSseResumeOptions,
    @Optional() @Inject(SSE_RESUME_METRICS) private readonly metrics: SseResumeMetrics = NOOP_METRICS,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const res = rawResponse(context.switchToHttp().getResponse());
    if (!res) return next.handle();
    const request = context.switchToHttp().getRequest<object>();
    return new Observable<unknown>((subscriber) => {
      let attached = false;
      let sink: ResponseSink | undefined;
      let describe: () => LogFields = () => ({});
      // The handler runs in this context, so that SseTaskService.stream() can read what the
      // guard left on the request (see stream-request.ts).
      const { result: handled, release } = runWithStreamRequest(request, () => next.handle());
      const inner = handled.subscribe({
        next: (value) => {
          release();
          if (!attached && isOpenMessage(value)) {
            attached = true;
            const subscription = value[SUBSCRIPTION_HANDLE];
            describe = () => ({ taskId: subscription.taskId, subscriberId: subscription.subscriberId });
            const responseSink = new ResponseSink(
              res,
              {
                maxPendingBytes: this.options.maxPendingBytes,
                slowConsumerTimeoutMs: this.options.slowConsumerTimeoutMs,
              },
              this.logger,
              describe,
              this.metrics,
            );
            if (subscription.attachSink(responseSink)) {
              sink = responseSink;
              return;
            }
            // Too late (an operator delayed the message): Nest writes this stream, open frame first.
            responseSink.abandon();
          }
          subscriber.next(value);
        },
        error: (err: unknown) => {
          release();
          // Before the head Nest answers with the error's status. After it, Nest would write an
          // `event: error` frame with an id of its own counter and the error's text: end instead.
          if (!res.headersSent) {
            sink?.abandon(); // Nest answers with the error: no frame may follow it
            return subscriber.error(err);
          }
          this.logger.error(
            logRecord('an SSE stream failed after its response head; ending it so the client resumes', {
              ...describe(),
              error: errorText(err),
            }),
            errorStack(err),
          );
          subscriber.complete();
        },
        complete: () => {
          release();
          subscriber.complete();
        },
      });
      return () => {
        release();
        inner.unsubscribe();
      };
    });
  }
}
