import {
  ConsoleLogger,
  type ConsoleLoggerOptions,
  Logger,
  type LoggerService,
  type LogLevel,
} from '@nestjs/common';

type JsonPrintOptions = {
  context: string;
  logLevel: LogLevel;
  writeStreamType?: 'stdout' | 'stderr';
  errorStack?: unknown;
  params?: Record<string, unknown>;
  error?: Error;
};

/**
 * Nest's `ConsoleLogger` printing into `lines` (and `onLine`) instead of stdout/stderr,
 * formatted by ConsoleLogger itself: with `{ json: true }` one JSON record per line, else
 * each text line, a stack as a line of its own (test helper, not part of the public API).
 */
export class CapturingLogger extends ConsoleLogger {
  readonly lines: string[] = [];

  constructor(
    options: ConsoleLoggerOptions = {},
    private readonly onLine?: (line: string) => void,
  ) {
    super({ colors: false, ...options });
  }

  /** The lines parsed as JSON (JSON mode). */
  records(): Record<string, unknown>[] {
    return this.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  protected override printAsJson(message: unknown, options: JsonPrintOptions): void {
    this.capture(this.stringifyJsonLogObject(this.getJsonLogObject(message, options)));
  }

  protected override formatMessage(
    logLevel: LogLevel,
    message: unknown,
    pidMessage: string,
    formattedLogLevel: string,
    contextMessage: string,
    timestampDiff: string,
    params?: Record<string, unknown>,
  ): string {
    const line = super.formatMessage(
      logLevel,
      message,
      pidMessage,
      formattedLogLevel,
      contextMessage,
      timestampDiff,
      params,
    );
    this.capture(line.replace(/\n$/, ''));
    return ''; // what ConsoleLogger then writes to stdout/stderr
  }

  protected override printStackTrace(stack: string): void {
    if (stack && !this.options.json) this.capture(stack);
  }

  private capture(line: string): void {
    this.lines.push(line);
    this.onLine?.(line);
  }
}

/** Makes `logger` the one every Nest `Logger` writes to (as an app's `logger` option does); returns the undo. */
export function useLogger(logger: LoggerService): () => void {
  const previous = (Logger as unknown as { staticInstanceRef?: LoggerService }).staticInstanceRef;
  Logger.overrideLogger(logger);
  return () => {
    Logger.overrideLogger(previous ?? false);
  };
}
