/** The one client of the compute REST API that every view of the extension uses. */

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type { Backend, Cluster, Environment, Form, Job, JobPage, JobState, LogChunk, ResultFile } from './types';

/** An error answered by the server, in its words, with the field it names (if any). */
export class ComputeApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly type: string = 'Error',
    readonly field?: string
  ) {
    super(message);
  }
}

export interface JobQuery {
  backend?: string;
  state?: JobState[];
  q?: string;
  limit?: number;
  offset?: number;
  sort?: string;
}

export class ComputeApi {
  constructor(readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()) {}

  /** The absolute URL of an API path (segments are encoded). */
  url(...segments: string[]): string {
    return URLExt.join(this.settings.baseUrl, 'compute', 'api', ...segments.map(encodeURIComponent));
  }

  /** A request through Jupyter's connection (token and XSRF headers added). */
  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, init, this.settings);
    } catch (error) {
      throw new ComputeApiError(`the Jupyter server did not answer (${String(error)})`, 0, 'NetworkError');
    }
    if (!response.ok) {
      throw await errorFrom(response);
    }
    return response;
  }

  async json<T>(url: string, init: RequestInit = {}): Promise<T> {
    const response = await this.fetch(url, init);
    return (response.status === 204 ? undefined : await response.json()) as T;
  }

  async backends(): Promise<Backend[]> {
    return (await this.json<{ backends: Backend[] }>(this.url('backends'))).backends;
  }

  async form(backend: string): Promise<Form> {
    return this.json<Form>(this.url('backends', backend, 'form'));
  }

  async environments(backend: string): Promise<Environment[]> {
    return (await this.json<{ environments: Environment[] }>(this.url('backends', backend, 'environments'))).environments;
  }

  async clusters(backend: string): Promise<Cluster[]> {
    return (await this.json<{ clusters: Cluster[] }>(this.url('backends', backend, 'clusters'))).clusters;
  }

  async jobs(query: JobQuery = {}): Promise<JobPage> {
    const params = new URLSearchParams();
    if (query.backend) params.set('backend', query.backend);
    if (query.state?.length) params.set('state', query.state.join(','));
    if (query.q) params.set('q', query.q);
    params.set('sort', query.sort ?? '-created');
    params.set('limit', String(query.limit ?? 50));
    params.set('offset', String(query.offset ?? 0));
    return this.json<JobPage>(`${this.url('jobs')}?${params}`);
  }

  async job(id: string): Promise<Job> {
    return this.json<Job>(this.url('jobs', id));
  }

  /** Submit a job spec; a retry with the same key never makes a second job. */
  async submit(spec: Record<string, unknown>, idempotencyKey: string): Promise<Job> {
    return this.json<Job>(this.url('jobs'), {
      method: 'POST',
      body: JSON.stringify(spec),
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': idempotencyKey }
    });
  }

  async cancel(id: string): Promise<Job> {
    return this.json<Job>(this.url('jobs', id, 'cancel'), { method: 'POST' });
  }

  async delete(id: string): Promise<void> {
    await this.fetch(this.url('jobs', id), { method: 'DELETE' });
  }

  async logs(id: string, offset = 0): Promise<LogChunk> {
    return this.json<LogChunk>(`${this.url('jobs', id, 'logs')}?offset=${offset}`);
  }

  async results(id: string): Promise<ResultFile[]> {
    return (await this.json<{ results: ResultFile[] }>(this.url('jobs', id, 'results'))).results;
  }

  /** One result's bytes, fetched through the server. */
  async resultBlob(id: string, name: string): Promise<Blob> {
    const url = URLExt.join(this.url('jobs', id, 'results'), ...name.split('/').map(encodeURIComponent));
    return (await this.fetch(url)).blob();
  }
}

async function errorFrom(response: Response): Promise<ComputeApiError> {
  let body: any = undefined;
  try {
    body = await response.json();
  } catch {
    // not JSON: the status says it all
  }
  const error = body?.error;
  if (error && typeof error.message === 'string') {
    return new ComputeApiError(error.message, response.status, error.type ?? 'Error', error.field ?? undefined);
  }
  const text = body?.message ?? response.statusText ?? '';
  return new ComputeApiError(`the server answered ${response.status} ${text}`.trim(), response.status);
}
