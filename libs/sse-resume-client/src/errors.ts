/**
 * Typed failures. A stream stops with one of these; everything else (network errors, 5xx,
 * 408, 429, a stream closed before `end`) is retried.
 */

/** Base class of every error this client throws. */
export class SseClientError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    // The exported classes name themselves (a `name` field): a minifier (the browser
    // bundle's) renames classes, and `new.target.name` with them. Other subclasses keep
    // their class name.
    this.name = new.target === SseClientError ? 'SseClientError' : new.target.name;
  }
}

/** The server answered with a status that retrying cannot change (4xx but 408 and 429). */
export class TaskHttpError extends SseClientError {
  constructor(
    /** The HTTP status. */
    readonly status: number,
    /** The library's error code from the JSON body (`TASK_NOT_FOUND`, ...), if any. */
    readonly code: string | undefined,
    message: string,
    /** The parsed JSON body, or its text. */
    readonly body: unknown,
    /** For 429 and 503 answers to `start()`: the server's `Retry-After`, in ms. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }

  override name = 'TaskHttpError';
}

/** 400: a malformed request, e.g. a bad `Last-Event-ID` or start body. */
export class TaskBadRequestError extends TaskHttpError {
  override name = 'TaskBadRequestError';
}
/** 403: the resume key is missing or wrong (`RESUME_KEY_INVALID`), or `authorize` refused. */
export class TaskForbiddenError extends TaskHttpError {
  override name = 'TaskForbiddenError';
}
/** 404: no such task (never existed, or forgotten after its TTL and retention). */
export class TaskNotFoundError extends TaskHttpError {
  override name = 'TaskNotFoundError';
}
/** 410: the task finished and its TTL passed: nothing can be replayed. */
export class TaskExpiredError extends TaskHttpError {
  override name = 'TaskExpiredError';
}

/** A 2xx answer that is not an event stream, or an event stream that breaks the protocol. */
export class ProtocolError extends SseClientError {
  override name = 'ProtocolError';
}

/** `reconnect.maxRetries` consecutive attempts failed; `cause` is the last failure. */
export class RetriesExhaustedError extends SseClientError {
  constructor(
    readonly attempts: number,
    cause: unknown,
  ) {
    super(`gave up after ${attempts} failed attempts`, { cause });
  }

  override name = 'RetriesExhaustedError';
}

const BY_STATUS: Record<number, typeof TaskHttpError> = {
  400: TaskBadRequestError,
  403: TaskForbiddenError,
  404: TaskNotFoundError,
  410: TaskExpiredError,
};

/** The typed error for a final answer: its JSON body's `message` and `code` when it has them. */
export async function httpError(response: Response, retryAfterMs?: number): Promise<TaskHttpError> {
  const text = await response.text().catch(() => '');
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  // Object(): the body's fields, none for text, null or a number.
  const fields = Object(body) as {
    message?: unknown;
    code?: unknown;
  };
  const message = [fields.message]
    .flat()
    .filter((part) => typeof part === 'string')
    .join(', ');
  const Type = BY_STATUS[response.status] ?? TaskHttpError;
  return new Type(
    response.status,
    typeof fields.code === 'string' ? fields.code : undefined,
    message ? `${response.status}: ${message}` : `HTTP ${response.status}`,
    body,
    retryAfterMs,
  );
}
