import { parseRetryAfter, reconnectDelay, type ResolvedReconnect } from './backoff.js';
import { httpError, ProtocolError, RetriesExhaustedError, SseClientError } from './errors.js';
import { SseParser, type SseEvent } from './sse-parser.js';
import type { TaskRecord } from './storage.js';
import type { AnyTaskEvents, TaskEndEvent, TaskStreamEvent } from './types.js';

/** What one attempt to reconnect is about to do; given to `onReconnect`. */
export interface ReconnectInfo {
  /** Consecutive attempts that brought no new event (0 after a stream that delivered some). */
  readonly failures: number;
  /** How long the client waits before the attempt. */
  readonly delayMs: number;
  /** Why the previous connection ended: an error, or a `ProtocolError` for a close before `end`. */
  readonly cause: unknown;
  /** The id the next request resumes after (`Last-Event-ID`). */
  readonly lastEventId: number | undefined;
}

/** Options of one stream. */
export interface StreamOptions {
  /** The task's key; default: the one kept in storage (from `start()` or an earlier stream), else none (a cookie may carry it). */
  resumeKey?: string;
  /** Resume after this id; default: the id kept in storage, else the start of history. */
  lastEventId?: number;
  /** Stops the stream; iteration then throws `signal.reason`. */
  signal?: AbortSignal;
  /** Each time a response with status 200 starts the event stream. */
  onOpen?(info: { readonly lastEventId: number | undefined }): void;
  /** Before each wait to reconnect. */
  onReconnect?(info: ReconnectInfo): void;
}

/** What a stream needs from its client. */
export interface StreamContext {
  readonly url: string;
  readonly fetch: typeof fetch;
  readonly headers: () => Record<string, string>;
  readonly credentials: Credentials;
  readonly reconnect: ResolvedReconnect;
  readonly idleTimeoutMs: number;
  readonly record: TaskRecord;
  readonly random?: () => number;
  readonly cancel: (resumeKey: string | undefined) => Promise<boolean>;
}

/** `fetch`'s credentials mode. */
export type Credentials = 'omit' | 'same-origin' | 'include';

/** Reason of the internal abort behind `close()`: ends iteration quietly. */
const CLOSED = Symbol('closed');
/** Reason of the abort behind an idle timeout: the attempt is retried. */
class IdleTimeout extends SseClientError {}

/**
 * One task's events, resumed across every reconnect: each id once, in order, then `end`.
 * Iterate it once (`for await`), or use the client's `subscribe()` / the RxJS adapter.
 */
export class TaskStream<E = AnyTaskEvents, R = unknown> implements AsyncIterable<TaskStreamEvent<E, R>> {
  /** Id of the last event handed to the application. */
  lastEventId: number | undefined;
  /** The `end` event, once received. */
  end: TaskEndEvent<R> | undefined;
  /** Times the stream reconnected. */
  reconnects = 0;
  private readonly closer = new AbortController();
  private iterated = false;

  constructor(
    /** The task being streamed. */
    readonly taskId: string,
    private readonly context: StreamContext,
    private readonly options: StreamOptions = {},
  ) {
    if (options.resumeKey !== undefined) context.record.resumeKey = options.resumeKey;
    this.lastEventId = options.lastEventId ?? context.record.lastEventId;
  }

  /** The key the stream sends (from the options or storage); `undefined` when a cookie has to carry it. */
  get resumeKey(): string | undefined {
    return this.options.resumeKey ?? this.context.record.resumeKey;
  }

  /** Ends the stream here (the task goes on): iteration finishes without an error. */
  close(): void {
    this.closer.abort(CLOSED);
  }

  /** Cancels the task; its stream then ends with `end` status `cancelled`. False if it had already ended. */
  cancel(): Promise<boolean> {
    return this.context.cancel(this.resumeKey);
  }

  [Symbol.asyncIterator](): AsyncGenerator<TaskStreamEvent<E, R>, undefined, undefined> {
    if (this.iterated) throw new SseClientError('a TaskStream can be iterated once');
    this.iterated = true;
    return this.run();
  }

  private async *run(): AsyncGenerator<TaskStreamEvent<E, R>, undefined, undefined> {
    const { context, options } = this;
    let failures = 0;
    let serverRetry: number | undefined;
    for (;;) {
      const attempt = new AbortController();
      const stop = (): void => attempt.abort(options.signal?.aborted ? options.signal.reason : CLOSED);
      options.signal?.addEventListener('abort', stop);
      this.closer.signal.addEventListener('abort', stop);
      let delivered = 0;
      let cause: unknown;
      let retryAfter: number | undefined;
      let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
      let idle: ReturnType<typeof setTimeout> | undefined;
      try {
        if (options.signal?.aborted || this.closer.signal.aborted) stop();
        attempt.signal.throwIfAborted();
        // From the request on: a reused connection that died may never bring the headers either.
        let activity = Date.now();
        if (context.idleTimeoutMs > 0) {
          const check = (): void => {
            const quiet = Date.now() - activity;
            if (quiet >= context.idleTimeoutMs) {
              attempt.abort(new IdleTimeout(`no byte for ${context.idleTimeoutMs} ms`));
            } else idle = setTimeout(check, context.idleTimeoutMs - quiet);
          };
          idle = setTimeout(check, context.idleTimeoutMs);
        }
        const response = await context.fetch(context.url, {
          headers: this.requestHeaders(),
          credentials: context.credentials,
          signal: attempt.signal,
        });
        const { status } = response;
        if (status === 204) {
          // Nothing after our id: the task has ended and we have its `end`.
          context.record.forget();
          return undefined;
        }
        if (status !== 200) {
          retryAfter = parseRetryAfter(response.headers.get('retry-after'));
          const error = await httpError(response);
          if (status < 500 && status !== 408 && status !== 429) {
            if (status === 403 || status === 404 || status === 410) context.record.forget();
            throw error;
          }
          cause = error;
        } else if (
          !/^text\/event-stream/i.test(response.headers.get('content-type') ?? '') ||
          !response.body
        ) {
          await response.body?.cancel();
          throw new ProtocolError(`expected text/event-stream, got ${response.headers.get('content-type')}`);
        } else {
          options.onOpen?.({ lastEventId: this.lastEventId });
          reader = response.body.getReader();
          const parsed: SseEvent[] = [];
          const parser = new SseParser(
            { onEvent: (event) => parsed.push(event), onRetry: (ms) => (serverRetry = ms) },
            { lastEventId: this.lastEventId === undefined ? '' : String(this.lastEventId) },
          );
          for (;;) {
            const chunk = await reader.read();
            if (chunk.done) break;
            activity = Date.now();
            parser.push(chunk.value);
            for (let i = 0; i < parsed.length; i++) {
              const event = this.accept(parsed[i]!);
              if (event === undefined) continue;
              delivered++;
              yield event;
              if (event.type === 'end') return undefined;
              // close() or an abort while the application held the event: no more of this chunk
              attempt.signal.throwIfAborted();
            }
            parsed.length = 0;
          }
          cause = new ProtocolError('the stream closed before its end event');
        }
      } catch (error) {
        if (attempt.signal.aborted) {
          const reason: unknown = attempt.signal.reason;
          if (reason === CLOSED) return undefined;
          if (!(reason instanceof IdleTimeout)) throw reason;
          cause = reason;
        } else if (error instanceof SseClientError) throw error;
        else cause = error;
      } finally {
        clearTimeout(idle);
        options.signal?.removeEventListener('abort', stop);
        this.closer.signal.removeEventListener('abort', stop);
        if (reader) {
          attempt.abort(CLOSED);
          reader.cancel().catch(() => undefined);
        }
      }
      failures = delivered > 0 ? 0 : failures + 1;
      if (failures > context.reconnect.maxRetries) throw new RetriesExhaustedError(failures, cause);
      const base =
        (context.reconnect.honorServerRetry ? serverRetry : undefined) ?? context.reconnect.initialDelayMs;
      const delayMs =
        retryAfter !== undefined
          ? Math.min(retryAfter, context.reconnect.maxDelayMs)
          : reconnectDelay(failures, base, context.reconnect, context.random);
      options.onReconnect?.({ failures, delayMs, cause, lastEventId: this.lastEventId });
      this.reconnects++;
      if (!(await this.sleep(delayMs))) return undefined;
    }
  }

  /** Turns a parsed event into an outcome, or `undefined` for one already handed out. */
  private accept(event: SseEvent): TaskStreamEvent<E, R> | undefined {
    const id = Number(event.lastEventId);
    if (event.lastEventId === '' || !Number.isSafeInteger(id) || id < 0) {
      throw new ProtocolError(`event "${event.type}" has no valid id (${JSON.stringify(event.lastEventId)})`);
    }
    if (this.lastEventId !== undefined && id <= this.lastEventId) return undefined;
    let data: unknown;
    try {
      data = JSON.parse(event.data);
    } catch {
      data = event.data;
    }
    let outcome: TaskStreamEvent<E, R>;
    if (event.type === 'end') {
      const { status, result, error } = (data ?? {}) as Omit<TaskEndEvent<R>, 'type' | 'id'>;
      const end: TaskEndEvent<R> = { type: 'end', id, status };
      if (result !== undefined) (end as { result?: R }).result = result;
      if (error !== undefined) (end as { error?: string }).error = error;
      outcome = this.end = end;
      this.context.record.forget();
    } else {
      outcome = (
        event.type === 'gap' ? { ...(data as object), type: 'gap', id } : { type: event.type, id, data }
      ) as TaskStreamEvent<E, R>;
      this.context.record.lastEventId = id;
    }
    this.lastEventId = id;
    return outcome;
  }

  private requestHeaders(): Record<string, string> {
    const headers: Record<string, string> = { ...this.context.headers(), accept: 'text/event-stream' };
    const key = this.resumeKey;
    if (key !== undefined) headers['x-resume-key'] = key;
    if (this.lastEventId !== undefined) headers['last-event-id'] = String(this.lastEventId);
    return headers;
  }

  /** Waits `ms`: true, or false if `close()` was called; rejects with the reason of an aborted signal. */
  private sleep(ms: number): Promise<boolean> {
    const signals = [this.options.signal, this.closer.signal].filter(
      (s): s is AbortSignal => s !== undefined,
    );
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        for (const signal of signals) signal.removeEventListener('abort', done);
        const aborted = signals.find((signal) => signal.aborted);
        if (aborted === undefined) resolve(true);
        else if (aborted.reason === CLOSED) resolve(false);
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the signal's own reason, as fetch rejects
        else reject(aborted.reason);
      };
      const timer = setTimeout(done, ms);
      for (const signal of signals) signal.addEventListener('abort', done);
      if (signals.some((signal) => signal.aborted)) done();
    });
  }
}
