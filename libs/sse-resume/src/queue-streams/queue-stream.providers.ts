import type { Provider } from '@nestjs/common';
import type { SseResumeOptions } from '../interfaces/sse-resume-options.interface';
import { SSE_RESUME_GIVEN_OPTIONS } from '../sse-resume.module-definition';
import { QueueStreamService } from './queue-stream.service';
import { QUEUE_STREAMS_OPTIONS, resolveQueueStreamsOptions } from './queue-streams.options';

/**
 * The providers of queue streams for `SseResumeModule`: the checked `queueStreams` option
 * (`null` when not set; a bad option fails the boot) and {@link QueueStreamService}, which
 * does nothing without it. Export `QueueStreamService` too.
 */
export function queueStreamProviders(): Provider[] {
  return [
    {
      provide: QUEUE_STREAMS_OPTIONS,
      useFactory: (given: SseResumeOptions) =>
        resolveQueueStreamsOptions(given.queueStreams, given.redis) ?? null,
      inject: [SSE_RESUME_GIVEN_OPTIONS],
    },
    QueueStreamService,
  ];
}
