import { SetMetadata } from '@nestjs/common';

/** Metadata key under which `@TaskHandler(name)` stores the handler's name. */
export const TASK_HANDLER_METADATA = 'sse-resume:task-handler';

/**
 * Registers a provider (an `@Injectable()` class implementing `DurableTaskHandler`) as the
 * task type `name`, started with `tasks.start(name, input, options)`: in this process, or
 * with `durable: true` as a BullMQ job that any worker instance may run. Names are unique
 * in the application (a duplicate fails the boot).
 *
 * ```ts
 * @TaskHandler('export')
 * @Injectable()
 * export class ExportHandler implements DurableTaskHandler<ExportInput, string> { ... }
 * ```
 */
export function TaskHandler(name: string): ClassDecorator {
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.:-]{1,100}$/.test(name)) {
    throw new TypeError(
      `@TaskHandler(name): name must be 1-100 characters of A-Z a-z 0-9 _ . : -, got ${JSON.stringify(name)}`,
    );
  }
  return SetMetadata(TASK_HANDLER_METADATA, name);
}
