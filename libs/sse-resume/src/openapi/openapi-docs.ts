import {
  InvalidResumePointError,
  ResumeKeyInvalidError,
  StoreUnavailableError,
  TaskAccessDeniedError,
  TaskExpiredError,
  TaskNotFoundError,
  TooManySubscribersError,
  TooManyStreamsError,
  type SseResumeError,
} from '../errors';
import { RESUME_COOKIE_PREFIX } from '../access/resume-cookie';
import type { SseResumeRouteOptions } from '../access/sse-resume.request';
import { DEFAULT_KEY_QUERY, RESUME_KEY_HEADER } from '../sse-resume.constants';
import { type ParameterDoc, type ResponseDoc, type RouteDocs, successStatus } from './openapi-metadata';

/**
 * What `@SseResume()`, `@TaskAccess()` and `@ResumeCookie()` document of a route in OpenAPI:
 * plain OpenAPI 3 objects in the shapes `@nestjs/swagger`'s own decorators store
 * (openapi-metadata.ts puts them where it reads them). Nothing here imports it.
 */

/** The task id in the examples. */
const EXAMPLE_TASK_ID = '0f5b7a9e-3c1d-4e8f-9a2b-6c4d8e1f3a5b';

const COOKIE = `${RESUME_COOKIE_PREFIX}<taskId>`;

function keyParameters(options: SseResumeRouteOptions): ParameterDoc[] {
  return [
    {
      name: RESUME_KEY_HEADER,
      in: 'header',
      description:
        `The task's resume key (what starting it returned as \`resumeKey\`). Browsers can send the ` +
        `HttpOnly cookie \`${COOKIE}\` instead, which the start route sets with \`@ResumeCookie()\`. ` +
        `The first of \`?${options.keyQuery ?? DEFAULT_KEY_QUERY}=\`, this header and the cookie counts: ` +
        'a wrong key in an earlier one is a 403.',
      required: false,
      schema: { type: 'string' },
    },
    {
      name: options.keyQuery ?? DEFAULT_KEY_QUERY,
      in: 'query',
      description:
        'Deprecated: the resume key in the URL leaks into logs, Referer headers and browser history. ' +
        `Send the \`${RESUME_KEY_HEADER}\` header or the cookie \`${COOKIE}\` instead.`,
      required: false,
      deprecated: true,
      schema: { type: 'string' },
    },
  ];
}

const RESUME_POINT_SCHEMA = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER };

const RESUME_POINT_PARAMETERS: ParameterDoc[] = [
  {
    name: 'Last-Event-ID',
    in: 'header',
    description:
      'Resume after this event id (a reconnecting EventSource sends it by itself): the events after ' +
      'it, or a `gap` event if history no longer reaches back that far. Absent: from the oldest kept event.',
    required: false,
    schema: RESUME_POINT_SCHEMA,
  },
  {
    name: 'lastEventId',
    in: 'query',
    description: 'The resume point when the `Last-Event-ID` header is absent (e.g. a page reloaded).',
    required: false,
    schema: RESUME_POINT_SCHEMA,
  },
];

const STREAM_DESCRIPTION = [
  "The task's events as Server-Sent Events, from the resume point on:",
  '- first `id: <resume point>` and `retry: <ms>` (the reconnect delay);',
  '- one frame per event, with its id (1, 2, 3 … per task) and JSON `data`: `progress`, or the names the task emits;',
  '- `gap` with `{"from", "to"}` when history no longer reaches back to the resume point: those ids are lost;',
  '- `: ping` comments while the task is quiet;',
  '- last `end` with `{"status": "completed" | "failed" | "cancelled", "result"?, "error"?}`; then the response ends.',
  'A stream that ends without `end` was cut (a restart, a slow client, the store away): reconnect with `Last-Event-ID`.',
].join('\n');

const STREAM_EXAMPLE = [
  'id: 0\nretry: 2000\n',
  'event: progress\nid: 1\ndata: {"step":1,"total":3}\n',
  ': ping\n',
  'event: gap\nid: 3\ndata: {"from":2,"to":3}\n',
  'event: end\nid: 4\ndata: {"status":"completed","result":{"steps":3}}\n\n',
].join('\n');

/** The `{ statusCode, error, message, code }` body of one status, with an example per code. */
function errorResponse(description: string, errors: SseResumeError[], retryAfter = false): ResponseDoc {
  const bodies = errors.map((error) => error.getResponse() as { statusCode: number; code: string });
  const status = bodies[0]?.statusCode;
  const schema = {
    type: 'object',
    required: ['statusCode', 'error', 'message', 'code'],
    properties: {
      statusCode: { type: 'integer', enum: [status] },
      error: { type: 'string' },
      message: { type: 'string' },
      code: { type: 'string', enum: bodies.map((body) => body.code) },
    },
  };
  const examples = Object.fromEntries(bodies.map((body) => [body.code, { summary: body.code, value: body }]));
  return {
    description,
    content: { 'application/json': { schema, examples } },
    ...(retryAfter && {
      headers: {
        'Retry-After': {
          description: 'Seconds to wait before trying again (with `SseResumeExceptionFilter`).',
          schema: { type: 'integer' },
        },
      },
    }),
  };
}

/** The errors both kinds of route answer before the handler runs. */
function accessErrors(): Record<string, ResponseDoc> {
  return {
    403: errorResponse('The resume key is missing or wrong, or `authorize` said no.', [
      new ResumeKeyInvalidError(EXAMPLE_TASK_ID),
      new TaskAccessDeniedError(EXAMPLE_TASK_ID),
    ]),
    404: errorResponse('No such task (or it expired long ago).', [new TaskNotFoundError(EXAMPLE_TASK_ID)]),
    410: errorResponse('The task has ended and its TTL has passed.', [new TaskExpiredError(EXAMPLE_TASK_ID)]),
    503: errorResponse(
      'The task store is unavailable (e.g. Redis away).',
      [new StoreUnavailableError('Connection is closed.')],
      true,
    ),
  };
}

/** What `@SseResume()` documents: the stream, its errors and the four ways to resume and authenticate. */
export function streamRouteDocs(options: SseResumeRouteOptions): RouteDocs {
  return {
    parameters: [...RESUME_POINT_PARAMETERS, ...keyParameters(options)],
    responses: {
      200: {
        description: STREAM_DESCRIPTION,
        content: { 'text/event-stream': { schema: { type: 'string' }, example: STREAM_EXAMPLE } },
      },
      204: {
        description:
          "The resume point is at or past the task's `end` event: nothing left to send (an EventSource stops reconnecting).",
      },
      400: errorResponse('The resume point is not a non-negative integer.', [
        new InvalidResumePointError('Last-Event-ID must be a non-negative integer event id'),
      ]),
      ...accessErrors(),
      429: errorResponse(
        'The task has `maxSubscribersPerTask` open streams on this instance.',
        [new TooManySubscribersError(EXAMPLE_TASK_ID, 1000)],
        true,
      ),
      503: errorResponse(
        'The task store is unavailable (e.g. Redis away), or this instance serves `maxStreams` streams.',
        [new StoreUnavailableError('Connection is closed.'), new TooManyStreamsError(25_000)],
        true,
      ),
    },
  };
}

/** What `@TaskAccess()` documents: the key and the errors of the check (the success is the route's). */
export function accessRouteDocs(options: SseResumeRouteOptions): RouteDocs {
  return { parameters: keyParameters(options), responses: accessErrors() };
}

/** What `@ResumeCookie()` documents: the cookie its route's success response sets. */
export function resumeCookieDocs(handler: object): Partial<RouteDocs> {
  return {
    responses: {
      [successStatus(handler)]: {
        description: 'The task has started.',
        headers: {
          'Set-Cookie': {
            description:
              `\`${COOKIE}=<resumeKey>; Path=<the start path>/<taskId>; Max-Age=<s>; HttpOnly; SameSite=Strict[; Secure]\`: ` +
              "the task's resume key for its stream, status and cancel routes, so that no key goes into a URL.",
            schema: { type: 'string' },
          },
        },
      },
    },
  };
}
