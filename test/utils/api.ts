import { setTimeout as sleep } from 'node:timers/promises';
import {
  openRaw,
  rawRequest,
  type RawHttpConnection,
  type RawResponse,
} from '@app/sse-resume/testing/raw-http';

/** Body of `POST /tasks` (all optional; the server fills in defaults). */
export interface TaskBody {
  steps?: number;
  intervalMs?: number;
  payloadBytes?: number;
  failAt?: number;
  /** A durable task (needs Redis). */
  durable?: boolean;
}

export interface CreatedTask {
  taskId: string;
  resumeKey: string;
  streamUrl: string;
}

export interface TaskInfoBody {
  taskId: string;
  status: 'running' | 'completed' | 'failed' | 'cancelled';
  createdAt: string;
  updatedAt: string;
  expiresAt: string | null;
  lastEventId: number;
  subscribers: number;
  error?: string;
  /** Durable tasks: the attempt running or last run. */
  attempt?: number;
}

export interface JsonResponse<T = unknown> {
  status: number;
  headers: Record<string, string>;
  text: string;
  /** The parsed body, `undefined` when empty or not JSON. */
  json: T;
}

/** Sends a request over a raw socket and parses a JSON body if there is one. */
export async function requestJson<T = unknown>(
  baseUrl: string,
  method: string,
  path: string,
  options: { body?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<JsonResponse<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (
    options.body !== undefined &&
    !Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')
  ) {
    headers['Content-Type'] = 'application/json';
  }
  const response = await rawRequest(baseUrl + path, { method, headers, body: options.body });
  return {
    status: response.status,
    headers: response.headers,
    text: response.text,
    json: parseJson<T>(response),
  };
}

function parseJson<T>(response: RawResponse): T {
  if (!/json/.test(response.headers['content-type'] ?? '') || response.text === '') return undefined as T;
  return JSON.parse(response.text) as T;
}

/** `POST /tasks`; fails the test unless the answer is 201. */
export async function createTask(baseUrl: string, body: TaskBody = {}): Promise<CreatedTask> {
  const response = await requestJson<CreatedTask>(baseUrl, 'POST', '/tasks', { body: JSON.stringify(body) });
  if (response.status !== 201) throw new Error(`POST /tasks answered ${response.status}: ${response.text}`);
  return response.json;
}

/** `GET /tasks/:taskId?key=` */
export function getInfo(baseUrl: string, taskId: string, key?: string): Promise<JsonResponse<TaskInfoBody>> {
  return requestJson<TaskInfoBody>(baseUrl, 'GET', `/tasks/${taskId}${keyQuery(key)}`);
}

/** `DELETE /tasks/:taskId?key=` */
export function cancelTask(baseUrl: string, taskId: string, key?: string): Promise<JsonResponse> {
  return requestJson(baseUrl, 'DELETE', `/tasks/${taskId}${keyQuery(key)}`);
}

export function keyQuery(key: string | undefined): string {
  return key === undefined ? '' : `?key=${encodeURIComponent(key)}`;
}

/** `GET <streamUrl>` with the given headers, read to the end. */
export function readStream(
  baseUrl: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  return rawRequest(baseUrl + path, { headers: { Accept: 'text/event-stream', ...headers } });
}

/** `GET <streamUrl>` left open, to be read while it streams. */
export function openStream(
  baseUrl: string,
  path: string,
  headers: Record<string, string> = {},
): RawHttpConnection {
  return openRaw(baseUrl + path, { headers: { Accept: 'text/event-stream', ...headers } });
}

/** Polls `GET /tasks/:id` until `predicate` holds (short real waits; the task runs in real time). */
export async function waitForInfo(
  baseUrl: string,
  task: CreatedTask,
  predicate: (info: JsonResponse<TaskInfoBody>) => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<JsonResponse<TaskInfoBody>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await getInfo(baseUrl, task.taskId, task.resumeKey);
    if (predicate(info)) return info;
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}; last: ${info.status} ${info.text}`);
    }
    await sleep(10);
  }
}
