import { ConfigurableModuleBuilder, type ConfigurableModuleAsyncOptions } from '@nestjs/common';
import type { SseResumeOptions } from './interfaces/sse-resume-options.interface';

const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN } = new ConfigurableModuleBuilder<SseResumeOptions>()
  .setClassMethodName('forRoot')
  .setExtras({ isGlobal: false }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
  .build();

export const SseResumeConfigurableModule = ConfigurableModuleClass;

/** Token of the options as given to `forRoot()` / `forRootAsync()` (before defaults and checks). */
export const SSE_RESUME_GIVEN_OPTIONS = MODULE_OPTIONS_TOKEN;

/** Token of the options with every default filled in and checked (`ResolvedSseResumeOptions`). */
export const SSE_RESUME_RESOLVED_OPTIONS = Symbol('SSE_RESUME_RESOLVED_OPTIONS');

/** What `SseResumeModule.forRoot()` takes besides a TTL: the library's options, and `isGlobal`. */
export interface SseResumeModuleOptions extends SseResumeOptions {
  /** Make the module global (its providers available everywhere). Default `false`. */
  isGlobal?: boolean;
}

/** What `SseResumeModule.forRootAsync()` takes: `imports`, `inject`, `useFactory` (or `useClass`/`useExisting`), `isGlobal`. */
export type SseResumeAsyncOptions = ConfigurableModuleAsyncOptions<SseResumeOptions, 'create'> & {
  isGlobal?: boolean;
};
