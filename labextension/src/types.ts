/** The JSON shapes of the compute REST API (see jupyter_compute/models.py and forms.py). */

export type JobState = 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED' | 'TIMED_OUT' | 'UNKNOWN';

export const JOB_STATES: JobState[] = ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'UNKNOWN'];

export const TERMINAL_STATES: ReadonlySet<JobState> = new Set<JobState>(['SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT']);

export function isTerminal(state: JobState): boolean {
  return TERMINAL_STATES.has(state);
}

export interface ResultFile {
  name: string;
  size: number | null;
  kind: string;
  media_type: string | null;
}

export interface Job {
  id: string;
  backend: string;
  name: string;
  remote_id: string | null;
  state: JobState;
  native_status: string;
  message: string;
  created: string;
  updated: string;
  started: string | null;
  finished: string | null;
  tags: string[];
  results: ResultFile[];
  spec: Record<string, unknown>;
  /** In lists and events: whether the spec's long text or lists were cut (a read of the job has it whole). */
  spec_summarised?: boolean;
}

export interface JobPage {
  jobs: Job[];
  total: number;
  limit: number;
  offset: number;
}

export interface Capabilities {
  can_cancel: boolean;
  can_delete: boolean;
  can_list: boolean;
  has_logs: boolean;
  has_results: boolean;
  has_environments: boolean;
  has_clusters: boolean;
  has_webhooks: boolean;
  can_proxy: boolean;
}

export interface Backend {
  name: string;
  kind: string;
  capabilities: Capabilities;
  available: boolean;
  message?: string;
}

export interface Environment {
  id: string;
  name: string;
  backend: string;
  description: string;
  cpus: number | null;
  gpus: number | null;
  gpu_type: string | null;
  memory_gb: number | null;
  disk_gb: number | null;
  price: number | null;
  max_jobs: number | null;
  running_jobs: number | null;
  max_duration_s: number | null;
}

export interface Cluster {
  id: string;
  name: string;
  backend: string;
  status: string;
  /** What the status means, from the backend's own table (servers before it was added leave it out). */
  health?: 'healthy' | 'busy' | 'failing' | 'unknown';
  nodes: number | null;
  nodes_available: number | null;
  cpus: number | null;
  cpus_allocatable: number | null;
  memory_gb: number | null;
  memory_gb_allocatable: number | null;
  gpus: number | null;
  gpus_allocatable: number | null;
  gpu_type: string | null;
}

export type FieldType = 'string' | 'text' | 'code' | 'path' | 'open_choice' | 'integer' | 'number' | 'boolean' | 'choice' | 'mapping' | 'tags';

export interface FormField {
  name: string;
  label: string;
  type: FieldType | string;
  required: boolean;
  default: unknown;
  choices: unknown[] | null;
  /** What a person reads for each choice (same order), where the choices are ids. */
  choice_labels?: string[] | null;
  min: number | null;
  max: number | null;
  help: string;
  /** A regular expression the whole text (each item of a tags value) must match. */
  pattern?: string | null;
}

export interface Form {
  fields: FormField[];
  one_of: string[][];
}

export interface LogChunk {
  text: string;
  offset: number;
  complete: boolean;
}

/** What ``GET events`` pushes: a job that changed, or the id of one deleted. */
export type ComputeEvent = { event: 'job'; data: Job } | { event: 'job_deleted'; data: { id: string } };

/** Why a job of backend ``name`` can only be read here (its backend is not configured on this server, or
 *  cannot work), or null when it can be acted on or the backends are not known yet. */
export function readOnlyReason(name: string, backends: Backend[] | null): string | null {
  if (!backends) return null;
  const backend = backends.find(b => b.name === name);
  if (!backend) return `the backend “${name}” is not configured on this server`;
  if (!backend.available) return `the backend “${name}” is unavailable: ${backend.message ?? 'no reason given'}`;
  return null;
}
