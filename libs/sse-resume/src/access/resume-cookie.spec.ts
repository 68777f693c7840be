import {
  formatResumeCookie,
  isHttpsRequest,
  isSafeCookiePath,
  readCookie,
  RESUME_COOKIE_PATH_HEADER,
  RESUME_COOKIE_PREFIX,
  requestPath,
  resumeCookieName,
  safeHeaderPath,
} from './resume-cookie';

describe('resumeCookieName', () => {
  it('is the prefix + the task id', () => {
    expect(RESUME_COOKIE_PREFIX).toBe('sse-resume-');
    expect(resumeCookieName('0b6c9a1e-1d1f-4c7e-9f57-3c2a4b8d9e10')).toBe(
      'sse-resume-0b6c9a1e-1d1f-4c7e-9f57-3c2a4b8d9e10',
    );
    expect(RESUME_COOKIE_PATH_HEADER).toBe('x-resume-cookie-path');
  });
});

describe('readCookie', () => {
  const name = 'sse-resume-t1';

  it.each<[string, string | string[] | undefined, string | undefined]>([
    ['the only cookie', 'sse-resume-t1=abc', 'abc'],
    ['among others', 'a=1; sse-resume-t1=abc; b=2', 'abc'],
    ['without spaces after ;', 'a=1;sse-resume-t1=abc;b=2', 'abc'],
    ['with spaces around = and the value', 'a=1;  sse-resume-t1 = abc  ; b=2', 'abc'],
    ['in double quotes', 'sse-resume-t1="abc"', 'abc'],
    ['percent-encoded', 'sse-resume-t1=a%2Bb', 'a+b'],
    ['with a malformed escape, as it is', 'sse-resume-t1=a%zzb', 'a%zzb'],
    ['with = in the value', 'sse-resume-t1=a=b', 'a=b'],
    [
      'the first of duplicates (most specific path first)',
      'sse-resume-t1=first; sse-resume-t1=second',
      'first',
    ],
    ['from repeated Cookie headers', ['a=1', 'sse-resume-t1=abc'], 'abc'],
    ['after malformed parts', 'garbage; ;=x; =; sse-resume-t1=abc', 'abc'],
    ['no header', undefined, undefined],
    ['an empty header', '', undefined],
    ['not there', 'a=1; b=2', undefined],
    ['only a longer name', 'sse-resume-t10=abc; xsse-resume-t1=abc', undefined],
    ['another case (names are case-sensitive)', 'SSE-RESUME-T1=abc', undefined],
    ['a part without =', 'sse-resume-t1; b=2', undefined],
    ['an empty value (absent)', 'sse-resume-t1=; sse-resume-t1=later', undefined],
    ['empty quotes (absent)', 'sse-resume-t1=""', undefined],
  ])('%s', (_case, header, expected) => {
    expect(readCookie(header, name)).toBe(expected);
  });
});

describe('safeHeaderPath', () => {
  it.each([
    ['/sse/tasks', '/sse/tasks'],
    ['/sse/tasks/', '/sse/tasks'],
    ['/sse/tasks//', '/sse/tasks'],
    ['/', ''],
    ["/a-b._~%20!$&'()*+=:@/c", "/a-b._~%20!$&'()*+=:@/c"],
    ['/' + 'a'.repeat(1023), '/' + 'a'.repeat(1023)],
  ])('accepts %p as %p', (value, expected) => {
    expect(safeHeaderPath(value)).toBe(expected);
  });

  it.each([
    ['not starting with /', 'sse/tasks'],
    ['empty', ''],
    ['with ;', '/sse/tasks; Domain=evil.example'],
    ['with ,', '/a,b'],
    ['with a space', '/a b'],
    ['with a tab', '/a\tb'],
    ['with CR LF', '/a\r\nSet-Cookie: x=1'],
    ['with a NUL', '/a\u0000b'],
    ['with a quote', '/a"b'],
    ['with a query', '/a?b'],
    ['with a fragment', '/a#b'],
    ['with a backslash', '/a\\b'],
    ['non-ASCII', '/é'],
    ['over 1024 characters', '/' + 'a'.repeat(1024)],
    ['a repeated header', ['/a', '/b']],
    ['absent', undefined],
  ])('refuses a value %s', (_case, value) => {
    expect(safeHeaderPath(value)).toBeUndefined();
  });
});

describe('isSafeCookiePath', () => {
  it('takes only a safe path starting with /, at most 1024 characters', () => {
    expect(isSafeCookiePath('/tasks/abc')).toBe(true);
    expect(isSafeCookiePath('/')).toBe(true);
    expect(isSafeCookiePath('tasks')).toBe(false);
    expect(isSafeCookiePath('')).toBe(false);
    expect(isSafeCookiePath('/a;b')).toBe(false);
    expect(isSafeCookiePath('/' + 'a'.repeat(1024))).toBe(false);
  });
});

describe('requestPath', () => {
  it.each([
    ['/tasks', '/tasks'],
    ['/tasks/', '/tasks'],
    ['/tasks?steps=3&x=/y', '/tasks'],
    ['/api/v1/tasks?', '/api/v1/tasks'],
    ['/', ''],
    ['', ''],
    ['/a;b,c', '/a%3Bb%2Cc'],
    ['/a"b<c>', '/a%22b%3Cc%3E'],
    ['/caf\u00e9', '/caf%E9'],
    ['/a%20b', '/a%20b'],
  ])('%p → %p', (url, expected) => {
    expect(requestPath(url)).toBe(expected);
  });
});

describe('formatResumeCookie', () => {
  const base = { taskId: 't1', resumeKey: 'k_-1', path: '/tasks/t1', maxAgeSeconds: 86_400, secure: false };

  it('writes name=value; Path; Max-Age; HttpOnly; SameSite=Strict, and Secure when asked', () => {
    expect(formatResumeCookie(base)).toBe(
      'sse-resume-t1=k_-1; Path=/tasks/t1; Max-Age=86400; HttpOnly; SameSite=Strict',
    );
    expect(formatResumeCookie({ ...base, secure: true })).toBe(
      'sse-resume-t1=k_-1; Path=/tasks/t1; Max-Age=86400; HttpOnly; SameSite=Strict; Secure',
    );
  });

  it('percent-encodes a key that is not made of cookie octets (readCookie decodes it)', () => {
    const line = formatResumeCookie({ ...base, resumeKey: 'a b;c' });
    expect(line).toMatch(/^sse-resume-t1=a%20b%3Bc; /);
    expect(readCookie(line.split(';')[0], 'sse-resume-t1')).toBe('a b;c');
  });

  it('throws on a task id that cannot name a cookie, an unsafe path or a bad Max-Age', () => {
    expect(() => formatResumeCookie({ ...base, taskId: 'a;b' })).toThrow('cannot name a cookie');
    expect(() => formatResumeCookie({ ...base, taskId: 'a b' })).toThrow('cannot name a cookie');
    expect(() => formatResumeCookie({ ...base, path: '/a; Domain=x' })).toThrow('not a safe Path');
    expect(() => formatResumeCookie({ ...base, path: '/' + 'a'.repeat(1024) })).toThrow('not a safe Path');
    expect(() => formatResumeCookie({ ...base, maxAgeSeconds: 0 })).toThrow('Max-Age');
    expect(() => formatResumeCookie({ ...base, maxAgeSeconds: 1.5 })).toThrow('Max-Age');
  });
});

describe('isHttpsRequest', () => {
  it('reads Express req.secure / req.protocol, Fastify request.protocol, else the TLS socket', () => {
    expect(isHttpsRequest({ secure: true, protocol: 'https' })).toBe(true);
    expect(isHttpsRequest({ secure: false, protocol: 'http' })).toBe(false);
    expect(isHttpsRequest({ protocol: 'https' })).toBe(true);
    expect(isHttpsRequest({ protocol: 'http' })).toBe(false);
    expect(isHttpsRequest({ socket: { encrypted: true } })).toBe(true);
    expect(isHttpsRequest({ raw: { socket: { encrypted: true } } })).toBe(true);
    expect(isHttpsRequest({ socket: {} })).toBe(false);
    expect(isHttpsRequest({ socket: null })).toBe(false);
    expect(isHttpsRequest({})).toBe(false);
  });
});
