import {
  type CallHandler,
  type ExecutionContext,
  Inject,
  Injectable,
  Logger,
  type NestInterceptor,
  Optional,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Observable, type Subscription } from 'rxjs';
import { SSE_RESUME_RESOLVED_OPTIONS } from '../sse-resume.module-definition';
import type { ResolvedSseResumeOptions } from '../interfaces/sse-resume-options.interface';
import { ResponseSink } from './response-sink';
import { runWithStreamRequest } from './stream-request';
import { isClaimedSseRoute, type RouteResponse, sendThroughNestSse } from './nest-sse-route';
import { writeSseHead } from './sse-head';
import { StreamRelay } from './stream-relay';
import { releaseRequestLeftovers } from './request-leftovers';
import { isOpenMessage, type OpenMessage, SUBSCRIPTION_HANDLE } from './open-message';
import type { TaskSubscription } from './task-subscription';
import { LOGGER_NAME } from '../sse-resume.messages';
import { errorStack, errorText, type LogFields, logRecord } from '../log-record';
import { NOOP_METRICS, SSE_RESUME_METRICS, type SseResumeMetrics } from '../metrics/sse-resume-metrics';

function rawResponse(response: unknown): ServerResponse | undefined {
  const raw = (response as { raw?: unknown } | undefined)?.raw ?? response;
  const candidate = raw as Partial<ServerResponse> | undefined;
  return typeof candidate?.write === 'function' && typeof candidate.writableLength === 'number'
    ? (raw as ServerResponse)
    : undefined;
}

/**
 * Lets a library stream write its frames itself instead of through Nest's one-write-per-
 * event pipeline. The handler still returns an Observable.
 *
 * On a route that `@SseResume()` claimed (see nest-sse-route.ts) the interceptor owns the
 * response once the stream has opened: it writes the head, the stream writes its frames,
 * ends the response and is released when the connection closes, and Nest's request
 * pipeline is over (nothing of it is kept per idle stream). Anything else (another
 * Observable, an error or an end before the stream opened) goes to Nest as on any `@Sse()`
 * route: errors to its exception filters, streams to its own SSE writer.
 *
 * On other routes (the interceptor used alone with `@Sse()`) Nest still sends the head,
 * watches the connection and ends the response when the Observable completes; values that
 * are not library streams pass through untouched.
 */
@Injectable()
export class SseResumeInterceptor implements NestInterceptor {
  private readonly logger = new Logger(LOGGER_NAME);

  constructor(
    @Inject(SSE_RESUME_RESOLVED_OPTIONS) private readonly options: ResolvedSseResumeOptions,
    @Optional() @Inject(SSE_RESUME_METRICS) private readonly metrics: SseResumeMetrics = NOOP_METRICS,
    @Optional() private readonly adapterHost?: HttpAdapterHost,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const response = context.switchToHttp().getResponse<RouteResponse>();
    const res = rawResponse(response);
    if (!res) return next.handle();
    const request = context.switchToHttp().getRequest<object>();
    const handler = context.getHandler();
    if (this.adapterHost?.httpAdapter && isClaimedSseRoute(handler)) {
      return this.ownResponse(handler, request, response, res, next);
    }
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
          if (!attached && isOpenMessage<TaskSubscription>(value)) {
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

  /**
   * A claimed route: takes the response over at the stream's open message (see the class
   * comment), else hands the stream to Nest's own SSE writer.
   */
  private ownResponse(
    handler: unknown,
    request: object,
    response: RouteResponse,
    res: ServerResponse,
    next: CallHandler,
  ): Observable<unknown> {
    const rawRequest = ((request as { raw?: unknown }).raw ?? request) as IncomingMessage;
    return new Observable<unknown>((nest) => {
      let source: Subscription | undefined = undefined; // read by stop(), which may run during subscribe()
      let stopped = false;
      const stop = () => {
        stopped = true;
        source?.unsubscribe();
      };
      // Nest's pipeline ends once the stream is the library's: one value, for its lastValueFrom().
      const done = () => {
        nest.next(undefined);
        nest.complete();
      };
      let relay: StreamRelay<unknown> | undefined;
      const handToNest = () => {
        relay = new StreamRelay<unknown>(stop);
        sendThroughNestSse(
          this.adapterHost!.httpAdapter,
          handler,
          relay.observable,
          response,
          res,
          rawRequest,
        ).then(
          () => {
            stop();
            done();
          },
          (err: unknown) => {
            stop();
            nest.error(err);
          },
        );
        return relay;
      };
      const { result: handled, release } = runWithStreamRequest(request, () => next.handle(), true);
      source = handled.subscribe({
        next: (value) => {
          release();
          if (relay) return relay.next(value);
          if (isOpenMessage<TaskSubscription>(value)) {
            const taken = this.takeOver(value, rawRequest, response, res);
            if (taken === true) {
              stop(); // the subscription is detached from this chain: it stays open
              return done();
            }
            if (taken !== false) return nest.error(taken.error);
          }
          handToNest().next(value);
        },
        error: (err: unknown) => {
          release();
          if (relay) return relay.error(err);
          nest.error(err);
        },
        complete: () => {
          release();
          (relay ?? handToNest()).complete();
        },
      });
      if (stopped) source.unsubscribe();
      return () => {
        release();
        stop();
      };
    });
  }

  /**
   * Writes the head and hands the response to the stream's subscription. False when the
   * stream cannot be taken over (a late open message, a HEAD or HTTP/2 request, a client gone:
   * Nest's writer sends it, or releases it); the error when Node rejected a header value (nothing was sent).
   */
  private takeOver(
    open: OpenMessage<TaskSubscription>,
    request: IncomingMessage,
    response: RouteResponse,
    res: ServerResponse,
  ): boolean | { error: unknown } {
    if (res.headersSent || request.method === 'HEAD' || (request.httpVersionMajor ?? 1) !== 1) return false;
    // A client already gone: its "close" has passed, Nest's writer releases the stream at once.
    if (res.closed || res.destroyed || request.socket?.destroyed !== false) return false;
    const subscription = open[SUBSCRIPTION_HANDLE];
    const sink = new ResponseSink(
      res,
      {
        maxPendingBytes: this.options.maxPendingBytes,
        slowConsumerTimeoutMs: this.options.slowConsumerTimeoutMs,
      },
      this.logger,
      subscription,
      this.metrics,
      subscription,
    );
    if (!subscription.attachSink(sink, true)) {
      sink.abandon();
      return false;
    }
    try {
      writeSseHead(request, res, response.statusCode ?? res.statusCode, response.getHeaders?.());
      // Fastify's reply is a thenable that settles once the response ends, and Nest's route
      // handler returns it: unless hijacked (we own the raw response), Nest's pipeline would wait.
      response.hijack?.();
      releaseRequestLeftovers(request, res);
      return true;
    } catch (error) {
      sink.abandon();
      subscription.close();
      return { error };
    }
  }
}
