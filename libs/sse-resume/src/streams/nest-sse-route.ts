import { type HttpServer, Res } from '@nestjs/common';
import { ROUTE_ARGS_METADATA, SSE_METADATA, SSE_OPTIONS_METADATA } from '@nestjs/common/constants.js';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum.js';
import { RouterResponseController } from '@nestjs/core/router/router-response-controller.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Observable } from 'rxjs';

/**
 * Everything the library relies on in Nest's internals, in one place (pinned by
 * nest-sse-route.spec.ts, which fails loudly if Nest changes it).
 *
 * Nest gives every `@Sse()` stream its own writer for as long as it is open: a Transform
 * piped into the response, an AbortController, a 5 s probe timer, a promise with a dozen
 * closures and the interceptor chain's subscribers, about 15 KiB per idle stream. A
 * `@SseResume()` route does not need any of it once its stream has opened, since the
 * library writes its frames itself. So the route is "claimed": Nest's `@Sse()` flag is taken
 * off the handler and a hidden `@Res()` parameter is added, which makes Nest treat it as a
 * route whose response the handler sends (guards, pipes, interceptors and exception filters
 * run as before). `SseResumeInterceptor` then writes the head itself once the stream has
 * opened and lets Nest's request pipeline finish; what is not a library stream is handed to
 * Nest's own SSE writer ({@link sendThroughNestSse}), so it behaves as on any `@Sse()` route.
 */

/** Marks a claimed handler (its value: true). */
const CLAIMED_SSE_ROUTE = 'sse-resume:claimed-sse-route';

interface PendingRoute {
  target: object;
  key: string | symbol;
  handler: object;
}

/** Handlers decorated before `@Sse()` was applied to them (decorators run bottom-up). */
let pending: PendingRoute[] = [];

type RouteArgs = Record<string, { index: number }>;

function routeArgs(target: object, key: string | symbol): RouteArgs {
  return (Reflect.getMetadata(ROUTE_ARGS_METADATA, target.constructor, key) as RouteArgs | undefined) ?? {};
}

/** Claims the route if it is an `@Sse()` route; false when it is not (yet). */
function claim({ target, key, handler }: PendingRoute): boolean {
  if (Reflect.getMetadata(SSE_METADATA, handler) !== true) return false;
  const args = Object.entries(routeArgs(target, key));
  const sendsItself = args.some(
    ([name]) =>
      name.startsWith(`${RouteParamtypes.RESPONSE}:`) || name.startsWith(`${RouteParamtypes.NEXT}:`),
  );
  // A handler that takes the response (or `next`) itself stays on Nest's path.
  if (sendsItself) return true;
  const index = Math.max((handler as () => void).length, ...args.map(([, arg]) => arg.index + 1));
  Res()(target, key, index);
  Reflect.deleteMetadata(SSE_METADATA, handler);
  Reflect.defineMetadata(CLAIMED_SSE_ROUTE, true, handler);
  return true;
}

/**
 * Called by `@SseResume()` on a method: claims it now if `@Sse()` is already applied, else
 * once {@link claimPendingSseRoutes} runs (before Nest registers its routes).
 */
export function claimSseRoute(target: object, key: string | symbol, handler: unknown): void {
  if (typeof handler !== 'function') return;
  const route = { target, key, handler };
  if (!claim(route)) pending.push(route);
}

/** Claims the routes decorated before their `@Sse()`; run when the module is created. */
export function claimPendingSseRoutes(): void {
  const routes = pending;
  pending = [];
  for (const route of routes) claim(route);
}

/** Whether `SseResumeInterceptor` writes this route's response itself. */
export function isClaimedSseRoute(handler: unknown): boolean {
  return typeof handler === 'function' && Reflect.getMetadata(CLAIMED_SSE_ROUTE, handler) === true;
}

/** The response as Nest's adapter hands it to the route (Express' `res`, Fastify's reply). */
export interface RouteResponse {
  readonly statusCode?: number;
  getHeaders?(): Record<string, unknown>;
  /** Fastify: the reply is sent by other means than the reply (here: its raw response). */
  hijack?(): void;
}

/**
 * Sends `stream` with Nest's own `@Sse()` writer, as Nest would have on an unclaimed route.
 * Resolves once the stream is over; rejects with an error before the head, for the
 * exception filters (as Nest's route handler does).
 */
export function sendThroughNestSse(
  adapter: HttpServer,
  handler: unknown,
  stream: Observable<unknown>,
  response: RouteResponse,
  raw: ServerResponse,
  request: IncomingMessage,
): Promise<void> {
  return new RouterResponseController(adapter).sse(stream as never, raw, request, {
    additionalHeaders: () => response.getHeaders?.() as never,
    statusCode: () => response.statusCode ?? raw.statusCode,
    maxPendingDataLength: (
      Reflect.getMetadata(SSE_OPTIONS_METADATA, handler as object) as
        | { maxPendingDataLength?: number }
        | undefined
    )?.maxPendingDataLength,
  });
}
