import {
  parseRetryAfter,
  resolveReconnect,
  type ReconnectOptions,
  type ResolvedReconnect,
} from './backoff.js';
import { httpError, ProtocolError } from './errors.js';
import { defaultStorage, memoryStorage, TaskRecord, type ResumeStorage } from './storage.js';
import { TaskStream, type Credentials, type StreamContext, type StreamOptions } from './task-stream.js';
import type {
  AnyTaskEvents,
  StartedTask,
  TaskEndEvent,
  TaskGapEvent,
  TaskInfo,
  TaskStreamEvent,
} from './types.js';

/** The app's routes, relative to `baseUrl`. The defaults are the example app's. */
export interface TaskRoutes {
  /** POST: starts a task, answers `{ taskId, resumeKey }`. Default `tasks`. */
  start?: string;
  /** GET: the task's event stream. Default `tasks/<taskId>/events`. */
  events?: (taskId: string) => string;
  /** GET: status; DELETE: cancel. Default `tasks/<taskId>`. */
  task?: (taskId: string) => string;
}

export interface SseResumeClientOptions {
  /**
   * What the routes are relative to. Default in a browser: the page's URL, so that an app
   * served under a path prefix (`/sse/`) works unchanged; required elsewhere.
   */
  baseUrl?: string | URL;
  routes?: TaskRoutes;
  /** Where resume keys and last ids are kept. Default: `sessionStorage` in a browser, else memory. */
  storage?: ResumeStorage;
  /** Prefix of the storage entries. Default `sse-resume:`. */
  storagePrefix?: string;
  /** Headers sent with every request (e.g. your own auth), or a function returning them. */
  headers?: Record<string, string> | (() => Record<string, string>);
  /** `fetch`'s credentials mode. Default `same-origin` (cookies to your own origin only). */
  credentials?: Credentials;
  /** Reconnect delays and limits. */
  reconnect?: ReconnectOptions;
  /**
   * A connection that brings no byte (not even a heartbeat) for this long is dropped and
   * resumed: it died without a FIN (a NAT or proxy forgot it). Keep it above the server's
   * `heartbeatMs` (15 s by default). Default 45000; 0 disables.
   */
  idleTimeoutMs?: number;
  /** The `fetch` to use. Default: the global one. */
  fetch?: typeof fetch;
  /** Random source of the backoff jitter (tests). */
  random?: () => number;
}

/** Callbacks of {@link SseResumeClient.subscribe}; all optional. */
export interface TaskHandlers<E, R> {
  /** Every event, in order: the task's own, `gap` and `end`. */
  onEvent?(event: TaskStreamEvent<E, R>): void;
  onGap?(event: TaskGapEvent): void;
  onEnd?(event: TaskEndEvent<R>): void;
  /** What stopped the stream: a typed error, a callback's exception, or an aborted signal's reason. Not called for `close()`. */
  onError?(error: unknown): void;
}

export interface TaskSubscription<E = AnyTaskEvents, R = unknown> {
  /** Stops streaming (the task goes on); `done` then resolves. */
  close(): void;
  /** The `end` event; `undefined` when closed, or when the task had already ended before (204). Rejects like `onError`. */
  readonly done: Promise<TaskEndEvent<R> | undefined>;
  readonly stream: TaskStream<E, R>;
}

/** The header telling the start route which path the client really posts to (see `@ResumeCookie()`). */
const COOKIE_PATH_HEADER = 'x-resume-cookie-path';

/**
 * Starts, streams, resumes and cancels tasks of a `nest-sse-resume` server.
 *
 * ```ts
 * const client = new SseResumeClient();            // in a browser: routes relative to the page
 * const task = await client.start<ExportEvents, ExportResult>({ steps: 20 });
 * for await (const event of task) {
 *   if (event.type === 'progress') render(event.data.done, event.data.total);
 *   if (event.type === 'end') show(event.status, event.result);
 * }
 * ```
 */
export class SseResumeClient {
  readonly #base: string | URL;
  readonly #storage: ResumeStorage;
  readonly #prefix: string;
  readonly #fetch: typeof fetch;
  readonly #reconnect: ResolvedReconnect;

  readonly #options: SseResumeClientOptions;

  constructor(options: SseResumeClientOptions = {}) {
    this.#options = options;
    const page = globalThis as { document?: { baseURI?: string }; location?: { href?: string } };
    const pageUrl = page.document?.baseURI ?? page.location?.href;
    let base = options.baseUrl ?? pageUrl;
    if (base === undefined) throw new TypeError('baseUrl is required outside a browser');
    if (options.baseUrl !== undefined) {
      const url = new URL(base, pageUrl); // `/api` in a browser
      if (!url.pathname.endsWith('/')) url.pathname += '/';
      base = url;
    }
    this.#base = base;
    this.#storage = options.storage ?? (page.location ? defaultStorage() : memoryStorage());
    this.#prefix = options.storagePrefix ?? 'sse-resume:';
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#reconnect = resolveReconnect(options.reconnect);
  }

  /**
   * Posts `body` (JSON) to the start route and returns the new task's stream; its key is
   * kept in storage, so `stream(taskId)` after a reload finds it (a start route that keeps the
   * key out of its body, `@ResumeCookie({ keyInBody: false })`, leaves it to the cookie).
   * A refusal throws the typed error (429/503 carry `retryAfterMs`); a start is not retried,
   * as it is not idempotent.
   */
  async start<E = AnyTaskEvents, R = unknown>(
    body: unknown,
    options: Omit<StreamOptions, 'resumeKey' | 'lastEventId'> = {},
  ): Promise<TaskStream<E, R>> {
    const url = this.#url(this.#options.routes?.start ?? 'tasks');
    const response = await this.#request(
      'POST',
      url,
      options.signal,
      {
        'content-type': 'application/json',
        [COOKIE_PATH_HEADER]: new URL(url).pathname,
      },
      JSON.stringify(body),
    );
    if (!response.ok) throw await httpError(response, parseRetryAfter(response.headers.get('retry-after')));
    const started = (await response.json().catch(() => null)) as Partial<StartedTask> | null;
    const { taskId, resumeKey } = started ?? {};
    if (typeof taskId !== 'string' || !(typeof resumeKey === 'string' || resumeKey === undefined)) {
      throw new ProtocolError('start: no taskId in the answer');
    }
    return this.stream<E, R>(taskId, { ...options, resumeKey });
  }

  /** The task's events from where this client (or this tab, before a reload) left off. */
  stream<E = AnyTaskEvents, R = unknown>(taskId: string, options: StreamOptions = {}): TaskStream<E, R> {
    const context: StreamContext = {
      url: this.#url(this.#options.routes?.events?.(taskId) ?? `tasks/${encodeURIComponent(taskId)}/events`),
      fetch: this.#fetch,
      headers: () => this.#headers(),
      credentials: this.#options.credentials,
      reconnect: this.#reconnect,
      idleTimeoutMs: this.#options.idleTimeoutMs ?? 45_000,
      record: this.#record(taskId),
      random: this.#options.random,
      cancel: (resumeKey) => this.cancel(taskId, { resumeKey }),
    };
    return new TaskStream<E, R>(taskId, context, options);
  }

  /** Callback style: `stream()` driven for you. */
  subscribe<E = AnyTaskEvents, R = unknown>(
    taskId: string,
    handlers: TaskHandlers<E, R>,
    options: StreamOptions = {},
  ): TaskSubscription<E, R> {
    const stream = this.stream<E, R>(taskId, options);
    const done = (async () => {
      try {
        for await (const event of stream) {
          handlers.onEvent?.(event);
          if (event.type === 'gap') handlers.onGap?.(event as TaskGapEvent);
          else if (event.type === 'end') handlers.onEnd?.(event as TaskEndEvent<R>);
        }
        return stream.end;
      } catch (error) {
        handlers.onError?.(error);
        throw error;
      }
    })();
    done.catch(() => undefined); // reported through onError; `done` still rejects for who awaits it
    return { close: () => stream.close(), done, stream };
  }

  /**
   * Cancels a task (key from the options, else storage, else a cookie). True when cancelled,
   * false when it had already ended.
   */
  async cancel(taskId: string, options: { resumeKey?: string; signal?: AbortSignal } = {}): Promise<boolean> {
    const response = await this.#taskRequest('DELETE', taskId, options);
    const { status } = response;
    if (status !== 409 && !response.ok) throw await httpError(response);
    await response.body?.cancel();
    return status !== 409;
  }

  /** The task's status (`GET` on the task route). */
  async info<T = TaskInfo>(
    taskId: string,
    options: { resumeKey?: string; signal?: AbortSignal } = {},
  ): Promise<T> {
    const response = await this.#taskRequest('GET', taskId, options);
    if (!response.ok) throw await httpError(response);
    return (await response.json()) as T;
  }

  /** The resume key kept for a task, if any (from `start()` or a stream given one). */
  resumeKeyOf(taskId: string): string | undefined {
    return this.#record(taskId).resumeKey;
  }

  /** Drops what storage keeps about a task. */
  forget(taskId: string): void {
    this.#record(taskId).forget();
  }

  #taskRequest(
    method: string,
    taskId: string,
    options: { resumeKey?: string; signal?: AbortSignal },
  ): Promise<Response> {
    const key = options.resumeKey ?? this.resumeKeyOf(taskId);
    const path = this.#options.routes?.task?.(taskId) ?? `tasks/${encodeURIComponent(taskId)}`;
    return this.#request(
      method,
      this.#url(path),
      options.signal,
      key === undefined ? {} : { 'x-resume-key': key },
    );
  }

  #request(
    method: string,
    url: string,
    signal: AbortSignal | undefined,
    headers: Record<string, string>,
    body?: string,
  ): Promise<Response> {
    return this.#fetch(url, {
      method,
      headers: { ...this.#headers(), accept: 'application/json', ...headers },
      body,
      credentials: this.#options.credentials,
      signal,
    });
  }

  #record(taskId: string): TaskRecord {
    return new TaskRecord(this.#storage, this.#prefix, taskId);
  }

  #headers(): Record<string, string> {
    const headers = this.#options.headers;
    return typeof headers === 'function' ? headers() : { ...headers };
  }

  #url(path: string): string {
    return new URL(path, this.#base).href;
  }
}
