import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { SseResumeOptions } from './interfaces/sse-resume-options.interface';

export const {
  ConfigurableModuleClass: SseResumeConfigurableModule,
  MODULE_OPTIONS_TOKEN: SSE_RESUME_MODULE_OPTIONS,
  OPTIONS_TYPE: SSE_RESUME_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: SSE_RESUME_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<SseResumeOptions>()
  .setClassMethodName('forRoot')
  .setExtras({ isGlobal: false }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
  .build();

/** Token of the resolved, validated options. */
export const SSE_RESUME_OPTIONS = Symbol('SSE_RESUME_OPTIONS');
