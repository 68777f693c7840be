import { type ArgumentsHost, Catch } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import { SseResumeError } from './errors/sse-resume.error';

/**
 * Optional: answers the library's errors like Nest's default filter, and adds
 * `Retry-After` to those that suggest one (503 task limit or store unavailable, 429 too
 * many subscribers). Register it globally:
 * `app.useGlobalFilters(new SseResumeExceptionFilter(app.get(HttpAdapterHost).httpAdapter))`.
 */
@Catch(SseResumeError)
export class SseResumeExceptionFilter extends BaseExceptionFilter {
  override catch(exception: SseResumeError, host: ArgumentsHost): void {
    const retryAfter = (exception as Partial<{ retryAfterSeconds: number }>).retryAfterSeconds;
    const adapter = this.httpAdapterHost?.httpAdapter ?? this.applicationRef;
    if (retryAfter !== undefined && host.getType() === 'http' && adapter) {
      const response: unknown = host.switchToHttp().getResponse();
      if (!adapter.isHeadersSent(response)) adapter.setHeader(response, 'Retry-After', String(retryAfter));
    }
    super.catch(exception, host);
  }
}
