import { inspect } from 'node:util';

/**
 * What a log line is about, as fields: `taskId`, `subscriberId`, `owner` (an instance id),
 * counts, an `error` message. Never a resume key, its hash, or a Redis key name holding one.
 */
export type LogFields = Record<string, string | number | undefined>;

/**
 * A log message with fields, passed as the message itself:
 * `logger.warn(logRecord('subscriber dropped', { taskId, subscriberId }))`, with a stack as
 * the second argument of `error()` as usual. An object first, because that is the one shape
 * every common logger keeps as fields: Nest's JSON `ConsoleLogger` writes it as the record's
 * `message` (`"message":{"message":"...","taskId":"..."}`), nestjs-pino and nest-winston
 * merge its properties into the line. Nest's text logger prints `toString()`
 * (`subscriber dropped taskId=... subscriberId=...`), not `Object(3) {...}`.
 */
export class LogRecord {
  readonly message: string;
  readonly [field: string]: unknown;

  constructor(message: string, fields: LogFields = {}) {
    this.message = message;
    for (const [name, value] of Object.entries(fields)) {
      if (value !== undefined && name !== 'message')
        Object.defineProperty(this, name, { value, enumerable: true });
    }
  }

  /** `message name=value ...`, values with spaces or quotes JSON-quoted. */
  toString(): string {
    const fields = Object.entries(this)
      .filter(([name]) => name !== 'message')
      .map(
        ([name, value]) =>
          `${name}=${/^[\w.:@/+-]+$/.test(String(value)) ? String(value) : JSON.stringify(value)}`,
      );
    return [this.message, ...fields].join(' ');
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/** A {@link LogRecord}: `message` plus the defined `fields`. */
export function logRecord(message: string, fields?: LogFields): LogRecord {
  return new LogRecord(message, fields);
}

/** The message of anything thrown, for a record's `error` field. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The stack of anything thrown (its text if it has none), for `logger.error(record, stack)`. */
export function errorStack(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
