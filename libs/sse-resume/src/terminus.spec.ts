import * as terminusEntry from './terminus';
import { SseResumeHealthIndicator } from './health/sse-resume.health-indicator';

describe('@app/sse-resume/terminus entry point', () => {
  it('exports the health indicator, and nothing else at run time', () => {
    expect(terminusEntry.SseResumeHealthIndicator).toBe(SseResumeHealthIndicator);
    expect(Object.keys(terminusEntry)).toEqual(['SseResumeHealthIndicator']);
  });
});
