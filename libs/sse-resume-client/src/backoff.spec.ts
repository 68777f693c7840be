import fc from 'fast-check';
import { parseRetryAfter, reconnectDelay, resolveReconnect, type ResolvedReconnect } from './backoff.js';

describe('resolveReconnect', () => {
  it('fills in the defaults', () => {
    expect(resolveReconnect()).toEqual({
      initialDelayMs: 1000,
      honorServerRetry: true,
      maxDelayMs: 30_000,
      factor: 2,
      maxRetries: Infinity,
    });
    expect(resolveReconnect({})).toEqual(resolveReconnect());
  });

  it('keeps what is given, zeros included', () => {
    const given: ResolvedReconnect = {
      initialDelayMs: 0,
      honorServerRetry: false,
      maxDelayMs: 0,
      factor: 1,
      maxRetries: 0,
    };
    expect(resolveReconnect(given)).toEqual(given);
  });

  it.each([
    ['initialDelayMs', -1],
    ['initialDelayMs', NaN],
    ['maxDelayMs', -0.5],
    ['maxDelayMs', NaN],
    ['factor', -2],
    ['factor', NaN],
    ['maxRetries', -1],
    ['maxRetries', NaN],
  ])('%s: %p is refused', (name, value) => {
    expect(() => resolveReconnect({ [name]: value })).toThrow(
      new RangeError(`reconnect.${name} must be a number >= 0`),
    );
  });

  it.each([0, 0.5, 0.999])('factor %p (< 1) is refused', (factor) => {
    expect(() => resolveReconnect({ factor })).toThrow(new RangeError('reconnect.factor must be >= 1'));
  });
});

describe('reconnectDelay', () => {
  const options = resolveReconnect({ maxDelayMs: 10_000, factor: 3 });

  it('no failure (the stream had delivered events): the base delay, capped, no jitter', () => {
    const random = jest.fn(() => 0);
    expect(reconnectDelay(0, 2000, options, random)).toBe(2000);
    expect(reconnectDelay(0, 60_000, options, random)).toBe(10_000);
    expect(reconnectDelay(-1, 500, options, random)).toBe(500);
    expect(random).not.toHaveBeenCalled();
  });

  it('n failures: a uniform draw in [0, min(maxDelayMs, base × factor^n)), floored', () => {
    expect(reconnectDelay(1, 1000, options, () => 0.5)).toBe(1500);
    expect(reconnectDelay(2, 1000, options, () => 0.5)).toBe(4500);
    expect(reconnectDelay(3, 1000, options, () => 0.5)).toBe(5000); // 27000 capped at 10000
    expect(reconnectDelay(1, 1000, options, () => 0)).toBe(0);
    expect(reconnectDelay(1, 1000, options, () => 0.9999)).toBe(2999);
    expect(reconnectDelay(50, 1000, options, () => 0.9999)).toBe(9999);
  });

  it('a base of 0 (retry: 0) still grows from 1 ms', () => {
    expect(reconnectDelay(2, 0, options, () => 0.5)).toBe(4);
    expect(reconnectDelay(0, 0, options)).toBe(0);
  });

  it('defaults to Math.random', () => {
    const spy = jest.spyOn(Math, 'random').mockReturnValue(0.25);
    try {
      expect(reconnectDelay(1, 1000, options)).toBe(750);
    } finally {
      spy.mockRestore();
    }
  });

  it('property: within [0, cap] and never above maxDelayMs', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 0, max: 60_000 }),
        fc.double({ min: 1, max: 10, noNaN: true }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (failures, base, maxDelayMs, factor, draw) => {
          const delay = reconnectDelay(failures, base, resolveReconnect({ maxDelayMs, factor }), () => draw);
          expect(Number.isInteger(delay)).toBe(true);
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThanOrEqual(maxDelayMs);
          if (failures === 0) expect(delay).toBe(Math.min(base, maxDelayMs));
        },
      ),
    );
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2030-01-01T00:00:00Z');

  it.each([
    ['0', 0],
    ['7', 7000],
    [' 120 ', 120_000],
  ])('delta-seconds %p: %p ms', (value, ms) => {
    expect(parseRetryAfter(value, now)).toBe(ms);
  });

  it('an HTTP date: the time until it, 0 once past', () => {
    expect(parseRetryAfter('Tue, 01 Jan 2030 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Mon, 31 Dec 2029 23:59:00 GMT', now)).toBe(0);
  });

  it('measures from Date.now() by default', () => {
    jest.useFakeTimers({ now });
    try {
      expect(parseRetryAfter('Tue, 01 Jan 2030 00:00:05 GMT')).toBe(5000);
    } finally {
      jest.useRealTimers();
    }
  });

  it.each([null, '', '   ', 'soon', 'later please', '5s'])('absent or garbage %p: undefined', (value) => {
    expect(parseRetryAfter(value, now)).toBeUndefined();
  });
});
