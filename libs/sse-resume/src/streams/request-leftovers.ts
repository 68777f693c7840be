/**
 * What Express leaves on a request and its response for the rest of the request's handling
 * (kept, for a long SSE stream, for as long as the connection is open): its router's `next`
 * (the routing closures behind it, ~1 KB), the parsed URL and route parameters, and
 * `res.locals`. Once `SseResumeInterceptor` owns the response, no middleware or handler of
 * this request runs any more, so they are let go. Properties are overwritten, never deleted:
 * a `delete` turns the object into a dictionary-mode one (larger). Absent properties (Fastify,
 * whose request and reply objects are let go anyway) are left absent.
 */
const REQUEST_LEFTOVERS = ['next', '_parsedUrl', 'params', 'route'] as const;
const RESPONSE_LEFTOVERS = ['locals'] as const;

function clear(target: object, names: readonly string[]): void {
  const record = target as Record<string, unknown>;
  for (const name of names) {
    if (Object.prototype.hasOwnProperty.call(record, name)) record[name] = undefined;
  }
}

/** Lets go of what Express keeps for the handling of a request that is over. */
export function releaseRequestLeftovers(request: object, response: object): void {
  clear(request, REQUEST_LEFTOVERS);
  clear(response, RESPONSE_LEFTOVERS);
}
