/**
 * The resume cookie: its name, reading it from a raw `Cookie` header, and the parts of the
 * `Set-Cookie` line `@ResumeCookie()` writes (path checks, the HTTPS test). No cookie
 * parser dependency: the library reads one cookie by its exact name.
 */

/** Every resume cookie is named this prefix + the task id. */
export const RESUME_COOKIE_PREFIX = 'sse-resume-';

/**
 * Request header in which a client names the path it posted to, when a proxy strips a
 * prefix the server never sees (e.g. `/sse/tasks` for the server's `/tasks`).
 */
export const RESUME_COOKIE_PATH_HEADER = 'x-resume-cookie-path';

/** Longest `Path` attribute browsers keep (RFC 6265bis: an attribute value over 1024 bytes is ignored). */
export const MAX_COOKIE_PATH_LENGTH = 1024;

/** The name of the cookie holding the resume key of `taskId`. */
export function resumeCookieName(taskId: string): string {
  return RESUME_COOKIE_PREFIX + taskId;
}

/** RFC 7230 token characters: what a cookie name may be made of. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** RFC 6265 cookie-octets (no whitespace, `"`, `,`, `;`, `\`, controls). */
const COOKIE_OCTETS = /^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*$/;
/** What a `Path` attribute may hold here: URL path characters without `;` and `,`. */
const PATH_CHARS = /^[A-Za-z0-9\-._~%/!$&'()*+=:@]+$/;
const SAFE_PATH_CHAR = /[A-Za-z0-9\-._~%/!$&'()*+=:@]/;

/**
 * The value of the cookie `name` in a raw `Cookie` header (a list joined with `; ` when
 * repeated, as HTTP/2 may send it), or `undefined`. The first occurrence wins: browsers
 * send the cookie of the most specific path first. Parts without `=` are skipped; an empty
 * value counts as absent; a value in double quotes is unquoted; `%XX` escapes are decoded
 * when they decode.
 */
export function readCookie(header: string | string[] | undefined, name: string): string | undefined {
  const text = Array.isArray(header) ? header.join('; ') : header;
  if (typeof text !== 'string' || text === '') return undefined;
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    return value === '' ? undefined : decodeValue(value);
  }
  return undefined;
}

function decodeValue(value: string): string {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/**
 * A path given by a client or a proxy (`x-resume-cookie-path`, `X-Forwarded-Prefix`), with
 * trailing slashes removed, if it is safe as a cookie attribute: a string starting with
 * `/`, at most 1024 characters, only URL path characters other than `;` and `,` (so no
 * whitespace, controls or attribute injection). `undefined` otherwise.
 */
export function safeHeaderPath(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > MAX_COOKIE_PATH_LENGTH) return undefined;
  if (!value.startsWith('/') || !PATH_CHARS.test(value)) return undefined;
  return trimTrailingSlashes(value);
}

/** Whether `path` can be written as a cookie's `Path` attribute as it is. */
export function isSafeCookiePath(path: string): boolean {
  return path.startsWith('/') && path.length <= MAX_COOKIE_PATH_LENGTH && PATH_CHARS.test(path);
}

export function trimTrailingSlashes(path: string): string {
  let end = path.length;
  while (end > 0 && path.charCodeAt(end - 1) === 0x2f) end--;
  return path.slice(0, end);
}

/**
 * The path of a request URL (no query), trailing slashes removed, with every character
 * that is not safe in a cookie attribute percent-encoded (as browsers encode them in the
 * URLs they request).
 */
export function requestPath(url: string): string {
  const path = url.split('?', 1)[0] ?? '';
  let safe = '';
  for (const char of path) {
    if (SAFE_PATH_CHAR.test(char)) safe += char;
    else {
      const code = char.codePointAt(0) ?? 0;
      // Node reads a request line as latin1: a byte stays a byte.
      safe +=
        code < 0x100 ? `%${code.toString(16).toUpperCase().padStart(2, '0')}` : encodeURIComponent(char);
    }
  }
  return trimTrailingSlashes(safe);
}

export interface ResumeCookieLine {
  taskId: string;
  resumeKey: string;
  path: string;
  maxAgeSeconds: number;
  secure: boolean;
}

/**
 * `sse-resume-<taskId>=<resumeKey>; Path=<path>; Max-Age=<s>; HttpOnly; SameSite=Strict[; Secure]`.
 * Throws (a programming error) when a part cannot be written safely.
 */
export function formatResumeCookie(cookie: ResumeCookieLine): string {
  const name = resumeCookieName(cookie.taskId);
  if (!TOKEN.test(name)) throw new Error(`the task id ${JSON.stringify(cookie.taskId)} cannot name a cookie`);
  const value = COOKIE_OCTETS.test(cookie.resumeKey)
    ? cookie.resumeKey
    : encodeURIComponent(cookie.resumeKey);
  if (!isSafeCookiePath(cookie.path)) {
    throw new Error(`the cookie path ${JSON.stringify(cookie.path)} is not a safe Path attribute`);
  }
  if (!Number.isSafeInteger(cookie.maxAgeSeconds) || cookie.maxAgeSeconds < 1) {
    throw new Error(`Max-Age must be a positive integer, got ${String(cookie.maxAgeSeconds)}`);
  }
  const secure = cookie.secure ? '; Secure' : '';
  return `${name}=${value}; Path=${cookie.path}; Max-Age=${cookie.maxAgeSeconds}; HttpOnly; SameSite=Strict${secure}`;
}

/** The parts of a request `isHttpsRequest` reads, on Express and Fastify. */
export interface ProtocolRequest {
  /** Express: `req.protocol === 'https'` (honours `trust proxy`). */
  secure?: unknown;
  /** Express and Fastify (Fastify honours `trustProxy`). */
  protocol?: unknown;
  socket?: { encrypted?: unknown } | null;
  raw?: { socket?: { encrypted?: unknown } | null };
}

/**
 * Whether the request came over HTTPS as the framework sees it: Express `req.secure` /
 * `req.protocol`, Fastify `request.protocol` (both trust `X-Forwarded-Proto` only when the
 * app trusts its proxy), else a TLS socket.
 */
export function isHttpsRequest(request: ProtocolRequest): boolean {
  if (request.secure === true || request.protocol === 'https') return true;
  const socket = request.raw?.socket ?? request.socket;
  return socket?.encrypted === true;
}
