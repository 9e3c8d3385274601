import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import type { SandboxEvent } from '../shared/api/event-schemas.js';
import type { Problem } from '../shared/api/problem-schema.js';
import type { Health, SystemInfo, Version } from '../shared/api/system-schemas.js';
import type { PortForward, PortForwardList } from '../shared/api/port-schemas.js';
import type { Template, TemplateList } from '../shared/api/template-schemas.js';
import { ApiTransport, readText, type ClientOptions, type RequestInit } from './api-transport.js';
import { MicrovmError } from './microvm-error.js';
import { readServerSentEvents } from './sse-reader.js';

export interface BuildProgressEvent {
  step: string;
  message: string;
  fraction?: number;
}

/**
 * A connection to one daemon: the Unix socket by default, or a URL with a bearer token
 * (options, else MICROVM_URL / MICROVM_TOKEN, else MICROVM_SOCKET, else the default socket).
 * Paths are relative to /api/v1.
 */
const SANDBOX_EVENT_TYPES: ReadonlySet<string> = new Set<SandboxEvent['type']>(['state', 'progress', 'snapshot']);

export class MicrovmClient {
  private readonly transport: ApiTransport;
  /** 'unix:/path' or the URL, for messages. */
  readonly target: string;

  constructor(options: ClientOptions = {}) {
    this.transport = new ApiTransport(options);
    this.target = this.transport.description;
  }

  /** A JSON request: the parsed answer, or undefined for 204. */
  async request<T>(method: string, path: string, init: RequestInit = {}): Promise<T> {
    const response = await this.transport.send(method, path, init);
    const text = await readText(response);
    if (response.statusCode === 204 || text === '') return undefined as T;
    const type = response.headers['content-type'] ?? '';
    if (!type.includes('json')) return text as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new MicrovmError('internal', `${method} ${path}: the daemon's answer is not valid JSON`);
    }
  }

  /** The raw, streaming response (its status already checked). */
  stream(method: string, path: string, init: RequestInit = {}): Promise<IncomingMessage> {
    return this.transport.send(method, path, init);
  }

  /** An open `ws` WebSocket; a refused upgrade rejects with its MicrovmError. */
  websocket(path: string): Promise<WebSocket> {
    return this.transport.openWebSocket(path);
  }

  /** Calls onEvent for every state change and progress event until the signal aborts (then resolves). */
  async events(onEvent: (event: SandboxEvent) => void, options: { signal?: AbortSignal } = {}): Promise<void> {
    if (options.signal?.aborted) return;
    try {
      const response = await this.stream('GET', '/events', { headers: { accept: 'text/event-stream' }, signal: options.signal });
      for await (const message of readServerSentEvents(response)) {
        // Event types this SDK does not know yet (a newer daemon) are skipped, not misread.
        if (SANDBOX_EVENT_TYPES.has(message.event)) onEvent(JSON.parse(message.data) as SandboxEvent);
      }
    } catch (error) {
      if (options.signal?.aborted) return;
      throw error;
    }
  }

  health(): Promise<Health> {
    return this.request('GET', '/health');
  }

  /** Whether a daemon answers at all; other failures (a refused token, …) still throw. */
  async answers(): Promise<boolean> {
    try {
      await this.health();
      return true;
    } catch (error) {
      if (error instanceof MicrovmError && error.code === 'daemon_unreachable') return false;
      throw error;
    }
  }

  version(): Promise<Version> {
    return this.request('GET', '/version');
  }

  system(): Promise<SystemInfo> {
    return this.request('GET', '/system');
  }

  /** Every sandbox's port forwards, by host port (one sandbox's: `sandbox.ports.list()`). */
  async ports(): Promise<PortForward[]> {
    return (await this.request<PortForwardList>('GET', '/ports')).ports;
  }

  async templates(): Promise<Template[]> {
    return (await this.request<TemplateList>('GET', '/templates')).templates;
  }

  /** Builds a template's image (or confirms it is up to date), reporting progress as it goes. */
  async buildTemplate(name: string, onProgress?: (progress: BuildProgressEvent) => void): Promise<Template> {
    const response = await this.stream('POST', `/templates/${encodeURIComponent(name)}/build`, { headers: { accept: 'text/event-stream' } });
    for await (const message of readServerSentEvents(response)) {
      const data = JSON.parse(message.data) as unknown;
      if (message.event === 'progress') onProgress?.(data as BuildProgressEvent);
      else if (message.event === 'done') return data as Template;
      else if (message.event === 'error') throw MicrovmError.fromProblem(data as Problem);
    }
    throw new MicrovmError('build_failed', `building template ${name}: the daemon ended the stream without a result`);
  }
}
