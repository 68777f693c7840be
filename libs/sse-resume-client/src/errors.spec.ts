import {
  describe as describeError,
  httpError,
  ProtocolError,
  RetriesExhaustedError,
  SseClientError,
  TaskBadRequestError,
  TaskExpiredError,
  TaskForbiddenError,
  TaskHttpError,
  TaskNotFoundError,
} from './errors.js';

const jsonResponse = (status: number, body: unknown, statusText?: string): Response =>
  new Response(JSON.stringify(body), { status, statusText, headers: { 'content-type': 'application/json' } });

describe('errors', () => {
  it.each([
    [SseClientError, Error],
    [ProtocolError, SseClientError],
    [TaskHttpError, SseClientError],
    [TaskBadRequestError, TaskHttpError],
    [TaskForbiddenError, TaskHttpError],
    [TaskNotFoundError, TaskHttpError],
    [TaskExpiredError, TaskHttpError],
    [RetriesExhaustedError, SseClientError],
  ])('%p extends %p and is named after its class', (Type, Parent) => {
    expect(Type.prototype).toBeInstanceOf(Parent);
    const error =
      Type === RetriesExhaustedError
        ? new RetriesExhaustedError(1, 'x')
        : new (Type as typeof SseClientError)('m');
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe(Type.name);
  });

  it('SseClientError keeps a cause', () => {
    const cause = new Error('root');
    expect(new ProtocolError('m', { cause }).cause).toBe(cause);
  });

  it('TaskHttpError carries status, code, body and retryAfterMs', () => {
    const error = new TaskHttpError(429, 'TOO_MANY_TASKS', '429: slow down', { a: 1 }, 3000);
    expect(error).toMatchObject({
      status: 429,
      code: 'TOO_MANY_TASKS',
      message: '429: slow down',
      body: { a: 1 },
      retryAfterMs: 3000,
      name: 'TaskHttpError',
    });
  });

  it('RetriesExhaustedError: attempts, the last failure as cause, both in the message', () => {
    const cause = new TypeError('fetch failed');
    const error = new RetriesExhaustedError(4, cause);
    expect(error).toMatchObject({
      attempts: 4,
      cause,
      message: 'gave up after 4 failed attempts: fetch failed',
    });
    expect(new RetriesExhaustedError(2, 'plain').message).toBe('gave up after 2 failed attempts: plain');
  });

  it('describe(): an error message, or the value as a string', () => {
    expect(describeError(new Error('m'))).toBe('m');
    expect(describeError('text')).toBe('text');
    expect(describeError(42)).toBe('42');
    expect(describeError(undefined)).toBe('undefined');
  });
});

describe('httpError', () => {
  it.each([
    [400, TaskBadRequestError],
    [403, TaskForbiddenError],
    [404, TaskNotFoundError],
    [410, TaskExpiredError],
    [401, TaskHttpError],
    [405, TaskHttpError],
    [409, TaskHttpError],
    [429, TaskHttpError],
    [500, TaskHttpError],
    [503, TaskHttpError],
  ])('%d: %p, with message and code from the Nest JSON body', async (status, Type) => {
    const body = { statusCode: status, error: 'Some Error', message: 'what happened', code: 'SOME_CODE' };
    const error = await httpError(jsonResponse(status, body));
    expect(error.constructor).toBe(Type);
    expect(error).toMatchObject({ status, code: 'SOME_CODE', message: `${status}: what happened`, body });
    expect(error.retryAfterMs).toBeUndefined();
  });

  it('a message array (validation errors) is joined', async () => {
    const error = await httpError(
      jsonResponse(400, { message: ['steps must be a number', 7, 'name is required'] }),
    );
    expect(error.message).toBe('400: steps must be a number, name is required');
    expect(error.code).toBeUndefined();
  });

  it('a body that is not JSON is kept as text; the message falls back to the status text', async () => {
    const error = await httpError(
      new Response('<h1>Bad gateway</h1>', { status: 502, statusText: 'Bad Gateway' }),
    );
    expect(error).toMatchObject({ status: 502, body: '<h1>Bad gateway</h1>', message: '502 Bad Gateway' });
  });

  it('an empty body and no status text: the status alone', async () => {
    const error = await httpError(new Response(null, { status: 500 }));
    expect(error).toMatchObject({ status: 500, body: '', message: '500', code: undefined });
  });

  it('JSON that is not an object, or a code that is not a string', async () => {
    expect(await httpError(jsonResponse(404, 'just a string'))).toMatchObject({
      body: 'just a string',
      message: '404',
    });
    expect(await httpError(jsonResponse(404, null))).toMatchObject({ body: null, message: '404' });
    expect(await httpError(jsonResponse(404, { code: 12, message: 5 }))).toMatchObject({
      code: undefined,
      message: '404',
    });
  });

  it('a body that fails to read counts as empty', async () => {
    const body = new ReadableStream({ pull: (controller) => controller.error(new TypeError('terminated')) });
    const error = await httpError(new Response(body, { status: 503, statusText: 'Service Unavailable' }));
    expect(error).toMatchObject({ status: 503, body: '', message: '503 Service Unavailable' });
  });

  it('passes retryAfterMs on', async () => {
    expect((await httpError(jsonResponse(429, {}), 5000)).retryAfterMs).toBe(5000);
  });
});
