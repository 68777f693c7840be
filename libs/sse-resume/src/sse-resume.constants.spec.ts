import {
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_KEY_QUERY,
  DEFAULT_REPLAY_CHUNK,
  DEFAULT_TASK_ID_PARAMS,
  END_EVENT,
  EVICTION_JOB_NAME,
  GAP_EVENT,
  PROGRESS_EVENT,
  RESERVED_EVENTS,
  RESUME_KEY_HEADER,
} from './sse-resume.constants';

describe('constants', () => {
  it('reserves the names the library writes itself, and the ones browsers treat specially', () => {
    expect([...RESERVED_EVENTS].sort()).toEqual(['end', 'error', 'gap', 'message']);
    expect(RESERVED_EVENTS.has(END_EVENT)).toBe(true);
    expect(RESERVED_EVENTS.has(GAP_EVENT)).toBe(true);
    expect(RESERVED_EVENTS.has(PROGRESS_EVENT)).toBe(false);
  });

  it('keeps the wire names stable', () => {
    expect({
      PROGRESS_EVENT,
      END_EVENT,
      GAP_EVENT,
      EVICTION_JOB_NAME,
      DEFAULT_KEY_QUERY,
      RESUME_KEY_HEADER,
    }).toEqual({
      PROGRESS_EVENT: 'progress',
      END_EVENT: 'end',
      GAP_EVENT: 'gap',
      EVICTION_JOB_NAME: 'sse-resume:evict',
      DEFAULT_KEY_QUERY: 'key',
      RESUME_KEY_HEADER: 'x-resume-key',
    });
    expect(DEFAULT_TASK_ID_PARAMS).toEqual(['taskId', 'id']);
  });

  it('has a heartbeat within what proxies tolerate (15-30 s) and a positive replay chunk', () => {
    expect(DEFAULT_HEARTBEAT_MS).toBeGreaterThanOrEqual(10_000);
    expect(DEFAULT_HEARTBEAT_MS).toBeLessThanOrEqual(30_000);
    expect(DEFAULT_REPLAY_CHUNK).toBeGreaterThan(0);
  });
});
