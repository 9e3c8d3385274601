import { AppError } from '../../../shared/app-contract';
import type { Problem } from '../../../shared/api/problem-schema';

export const API_PREFIX = '/api/v1';

export type QueryValue = string | number | boolean | undefined;

export interface DaemonRequest {
  query?: Record<string, QueryValue>;
  /** Sent as application/json; without it the request has no body and no content-type. */
  json?: unknown;
  signal?: AbortSignal;
}

/**
 * Requests to the daemon that served the page. Authentication is the daemon's HttpOnly
 * session cookie, which the browser sends by itself (`credentials: 'same-origin'`); the page
 * never sees a token. Every error answer becomes an AppError carrying the problem's code,
 * and a daemon that does not answer becomes `daemon_unreachable`.
 */
export class DaemonHttp {
  constructor(readonly origin: string) {}

  /** The absolute URL of an API path (relative to /api/v1). */
  url(path: string, query: Record<string, QueryValue> = {}): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
    const search = params.size > 0 ? `?${params}` : '';
    return `${this.origin}${API_PREFIX}${path}${search}`;
  }

  /** The same URL for a WebSocket (ws:// or wss://). */
  socketUrl(path: string): string {
    return this.url(path).replace(/^http/, 'ws');
  }

  /** A JSON request: the parsed answer, or undefined for an empty one (204). */
  async request<T>(method: string, path: string, init: DaemonRequest = {}): Promise<T> {
    const response = await this.send(method, path, init);
    const text = await response.text();
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new AppError('internal', `${method} ${API_PREFIX}${path}: the daemon's answer is not JSON`);
    }
  }

  /** The response once its status is a success (its body unread, for streaming). */
  async send(method: string, path: string, init: DaemonRequest = {}): Promise<Response> {
    const headers: Record<string, string> = {};
    let body: string | undefined;
    if (init.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(init.json);
    }
    let response: Response;
    try {
      response = await fetch(this.url(path, init.query), {
        method,
        headers,
        credentials: 'same-origin',
        ...(body === undefined ? {} : { body }),
        ...(init.signal ? { signal: init.signal } : {}),
      });
    } catch (error) {
      if (init.signal?.aborted) throw error;
      throw this.unreachable(method, path, error);
    }
    if (!response.ok) throw errorFromAnswer(response.status, await response.text().catch(() => ''));
    return response;
  }

  unreachable(method: string, path: string, error: unknown): AppError {
    const why = error instanceof Error ? error.message : String(error);
    return new AppError('daemon_unreachable', `no daemon answers at ${this.origin} for ${method} ${API_PREFIX}${path} (${why}); is the daemon running?`);
  }
}

/** An error answer's AppError: the problem's code and detail, or the status for a body that is no problem. */
export function errorFromAnswer(status: number, body: string): AppError {
  const problem = parseProblem(body);
  if (problem) return new AppError(problem.code, problem.detail || problem.title);
  const code = status === 404 ? 'route_not_found' : status === 401 ? 'unauthorized' : status < 500 ? 'invalid_argument' : 'internal';
  const text = body.trim().slice(0, 300);
  return new AppError(code, `the daemon answered ${status}${text ? `: ${text}` : ''}`);
}

function parseProblem(body: string): Problem | undefined {
  try {
    const value = JSON.parse(body) as Partial<Problem> | null;
    return typeof value?.code === 'string' && (typeof value.detail === 'string' || typeof value.title === 'string') ? (value as Problem) : undefined;
  } catch {
    return undefined;
  }
}

/** Path segment of a sandbox or snapshot id. */
export function segment(id: string): string {
  return encodeURIComponent(id);
}
