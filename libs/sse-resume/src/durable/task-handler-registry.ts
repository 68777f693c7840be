import { Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, Reflector } from '@nestjs/core';
import { UnknownTaskHandlerError } from '../errors';
import type { DurableTaskHandler } from '../interfaces/durable-task.interface';
import { duplicateTaskHandler } from '../sse-resume.messages';
import { TASK_HANDLER_METADATA } from './task-handler.decorator';

/** A registered handler and the name of its class (for messages). */
interface Registered {
  handler: DurableTaskHandler;
  className: string;
}

/**
 * The application's `@TaskHandler(name)` providers by name, found with Nest's
 * DiscoveryService when the module starts.
 */
@Injectable()
export class TaskHandlerRegistry implements OnModuleInit {
  private readonly handlers = new Map<string, Registered>();

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly reflector: Reflector,
  ) {}

  onModuleInit(): void {
    for (const wrapper of this.discovery.getProviders()) {
      const metatype: unknown = wrapper.metatype;
      const instance: unknown = wrapper.instance;
      if (typeof metatype !== 'function' || !instance) continue;
      const name = this.reflector.get<string | undefined>(TASK_HANDLER_METADATA, metatype);
      if (name === undefined) continue;
      if (typeof (instance as Partial<DurableTaskHandler>).run !== 'function') {
        throw new TypeError(
          `@TaskHandler('${name}') on ${metatype.name}: the class has no run(input, context) method`,
        );
      }
      this.register(name, instance as DurableTaskHandler, metatype.name);
    }
  }

  /** Adds a handler; a name already taken throws (the boot fails). */
  register(name: string, handler: DurableTaskHandler, className = 'a handler'): void {
    const existing = this.handlers.get(name);
    if (existing && existing.handler !== handler) {
      throw new Error(duplicateTaskHandler(name, existing.className, className));
    }
    this.handlers.set(name, { handler, className });
  }

  /** The handler named `name`, or `undefined`. */
  find(name: string): DurableTaskHandler | undefined {
    return this.handlers.get(name)?.handler;
  }

  /** The handler named `name`; throws `UnknownTaskHandlerError` (listing the known names) otherwise. */
  get(name: string): DurableTaskHandler {
    const handler = this.find(name);
    if (!handler) throw new UnknownTaskHandlerError(name, this.names);
    return handler;
  }

  /** Registered names, sorted. */
  get names(): string[] {
    return [...this.handlers.keys()].sort();
  }
}
