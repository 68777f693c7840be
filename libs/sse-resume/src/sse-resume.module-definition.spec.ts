import {
  SSE_RESUME_GIVEN_OPTIONS,
  SSE_RESUME_RESOLVED_OPTIONS,
  SseResumeConfigurableModule,
} from './sse-resume.module-definition';

describe('SseResumeConfigurableModule', () => {
  it('keeps the raw and the resolved options under different tokens', () => {
    expect(SSE_RESUME_GIVEN_OPTIONS).not.toBe(SSE_RESUME_RESOLVED_OPTIONS);
    expect(typeof SSE_RESUME_RESOLVED_OPTIONS).toBe('symbol');
  });

  it('provides the options given to forRoot() and is global only with isGlobal', () => {
    const local = SseResumeConfigurableModule.forRoot({ ttl: 5 });
    expect(local.global).toBe(false);
    expect(local.providers).toContainEqual(
      expect.objectContaining({ provide: SSE_RESUME_GIVEN_OPTIONS, useValue: { ttl: 5 } }),
    );
    expect(SseResumeConfigurableModule.forRoot({ ttl: 5, isGlobal: true }).global).toBe(true);
    expect(SseResumeConfigurableModule.forRootAsync({ useFactory: () => ({}), isGlobal: true }).global).toBe(
      true,
    );
  });
});
