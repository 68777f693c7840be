import { logPosition, resumeKeyOf, streamIdAfter, streamPosition, taskIdOf } from './queue-stream-ids';
import { hashResumeKey } from '../access/resume-key';

describe('queue stream ids', () => {
  it('taskIdOf is a deterministic UUID per prefix, queue and job', () => {
    const id = taskIdOf('bull', 'mail', '42');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(taskIdOf('bull', 'mail', '42')).toBe(id);
    expect(taskIdOf('bull', 'mail', '43')).not.toBe(id);
    expect(taskIdOf('bull', 'mail2', '42')).not.toBe(id);
    expect(taskIdOf('other', 'mail', '42')).not.toBe(id);
    // The separator keeps ('a', 'b:c') and ('a:b', 'c') apart.
    expect(taskIdOf('p', 'a', 'bc')).not.toBe(taskIdOf('p', 'ab', 'c'));
  });

  it('resumeKeyOf is an HMAC of the task id: 43 base64url characters, secret-dependent', () => {
    const key = resumeKeyOf('s'.repeat(32), 'task');
    expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(resumeKeyOf('s'.repeat(32), 'task')).toBe(key);
    expect(resumeKeyOf('t'.repeat(32), 'task')).not.toBe(key);
    expect(hashResumeKey(key)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('streamPosition sorts as strings in stream order', () => {
    const ids = ['0-0', '9-1', '10-0', '10-2', '10-10', '1733260000000-0', '1733260000000-11'];
    const positions = ids.map(streamPosition);
    expect([...positions].sort()).toEqual(positions);
    expect(streamPosition('10-2')).toBe('000000000000010-0000000002');
    expect(() => streamPosition('abc')).toThrow(RangeError);
    expect(() => streamPosition('1-2-3')).toThrow(RangeError);
    expect(streamIdAfter('10-10', '10-9')).toBe(true);
    expect(streamIdAfter('9-0', '10-0')).toBe(false);
  });

  it('logPosition sorts as strings in index order', () => {
    expect(logPosition(0) < logPosition(9)).toBe(true);
    expect(logPosition(9) < logPosition(10)).toBe(true);
    expect(() => logPosition(-1)).toThrow(RangeError);
    expect(() => logPosition(1.5)).toThrow(RangeError);
  });
});
