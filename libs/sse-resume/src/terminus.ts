/**
 * The `@nestjs/terminus` health indicator, a separate entry point so that `@nestjs/terminus`
 * (an optional peer) is only needed by those who use it.
 */
export { SseResumeHealthIndicator, type SseResumeHealthOptions } from './health/sse-resume.health-indicator';
