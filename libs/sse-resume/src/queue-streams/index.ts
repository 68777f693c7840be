/** Public API of queue streams (re-exported by the library's index). */
export { QueueStreamService, type QueueJobStreamOptions } from './queue-stream.service';
export { QueueJobStream, QueueJobStreamGuard, QueueJobStreamInterceptor } from './queue-job-stream.decorator';
