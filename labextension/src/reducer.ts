/**
 * The job list as the sidebar shows it: one server page kept live by the event stream.
 *
 * Pure functions of (state, action) → state, so the ordering rules are tested without a browser:
 * an event older than what is shown is ignored (``updated`` decides), a deleted job never comes
 * back from a late event or a page fetched before the delete, and a page read after a reconnect
 * replaces the rows without losing newer events that overtook it.
 */

import type { ComputeEvent, Job, JobState } from './types';
import { isTerminal } from './types';

export interface JobFilter {
  backend?: string;
  state?: JobState[];
  q?: string;
}

export interface JobListState {
  /** The rows shown, newest first. */
  rows: Job[];
  total: number;
  offset: number;
  limit: number;
  filter: JobFilter;
  /** The newest version seen of every job that changed since the page was read (id → job). */
  latest: Map<string, Job>;
  /** Jobs deleted while this list was open. */
  deleted: Set<string>;
  /** False until the first page arrived; a reconnect sets it again until the re-read page arrives. */
  loaded: boolean;
}

export type JobListAction =
  | { type: 'page'; rows: Job[]; total: number; offset: number; limit: number; filter: JobFilter }
  | { type: 'event'; event: ComputeEvent }
  | { type: 'reconnected' };

/** At most this many overtaking versions are remembered between two page reads. */
export const MAX_LATEST = 5000;

export function initialState(limit = 50, filter: JobFilter = {}): JobListState {
  return { rows: [], total: 0, offset: 0, limit, filter, latest: new Map(), deleted: new Set(), loaded: false };
}

/**
 * An ISO instant in microseconds since the epoch: the server stamps changes to the microsecond, and
 * two changes of one job within a millisecond must still keep their order (Date.parse drops the rest).
 */
export function micros(iso: string): number {
  const match = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(.*)$/.exec(iso);
  if (!match) return Date.parse(iso) * 1000;
  const fraction = (match[2] ?? '').padEnd(6, '0').slice(0, 6);
  return Date.parse(match[1] + (match[3] || 'Z')) * 1000 + Number(fraction);
}

/** Whether ``a`` is a strictly newer version of a job than ``b``. */
export function isNewer(a: Job, b: Job): boolean {
  const ta = micros(a.updated);
  const tb = micros(b.updated);
  if (ta !== tb) return ta > tb;
  // Same instant: a terminal state is the later one (a job never leaves it).
  return isTerminal(a.state) && !isTerminal(b.state);
}

/**
 * The same test as the server's ``GET jobs`` filters: the backend, any of the states, and text found
 * (case-insensitively) in the columns the store searches (store.py SEARCHED_COLUMNS).
 */
export function matches(job: Job, filter: JobFilter): boolean {
  if (filter.backend && job.backend !== filter.backend) return false;
  if (filter.state?.length && !filter.state.includes(job.state)) return false;
  if (filter.q) {
    const q = filter.q.toLowerCase();
    const searched = [job.name, job.id, job.remote_id ?? '', job.native_status, job.message];
    if (!searched.some(text => text.toLowerCase().includes(q))) return false;
  }
  return true;
}

function newestFirst(a: Job, b: Job): number {
  return Date.parse(b.created) - Date.parse(a.created) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

function remember(latest: Map<string, Job>, job: Job): Map<string, Job> {
  const next = new Map(latest);
  next.delete(job.id);
  next.set(job.id, job);
  while (next.size > MAX_LATEST) next.delete(next.keys().next().value as string);
  return next;
}

export function reduce(state: JobListState, action: JobListAction): JobListState {
  switch (action.type) {
    case 'page':
      return applyPage(state, action);
    case 'reconnected':
      return { ...state, loaded: false };
    case 'event':
      return action.event.event === 'job_deleted'
        ? applyDeleted(state, action.event.data.id)
        : applyJob(state, action.event.data);
  }
}

function applyPage(state: JobListState, page: Extract<JobListAction, { type: 'page' }>): JobListState {
  let rows: Job[] = [];
  const onPage = new Set<string>();
  for (const row of page.rows) {
    onPage.add(row.id);
    if (state.deleted.has(row.id)) continue;
    const newer = state.latest.get(row.id);
    const job = newer && isNewer(newer, row) ? newer : row;
    if (matches(job, page.filter)) rows.push(job);
  }
  let total = page.total - (page.rows.length - rows.length);
  if (page.offset === 0) {
    // Jobs whose events came after the server read this page: new ones belong on it, above its last row.
    const last = page.rows[page.rows.length - 1];
    const full = page.rows.length >= page.limit;
    for (const job of state.latest.values()) {
      if (onPage.has(job.id) || !matches(job, page.filter)) continue;
      if (full && last && newestFirst(job, last) > 0) continue; // older than the page: a later page's
      rows.push(job);
      total++;
    }
    rows = rows.sort(newestFirst).slice(0, page.limit);
  }
  return {
    ...state,
    rows,
    total: Math.max(0, total),
    offset: page.offset,
    limit: page.limit,
    filter: page.filter,
    loaded: true
  };
}

function applyJob(state: JobListState, job: Job): JobListState {
  if (state.deleted.has(job.id)) return state;
  const known = state.latest.get(job.id) ?? state.rows.find(row => row.id === job.id);
  if (known && !isNewer(job, known)) return state;
  const latest = remember(state.latest, job);
  const index = state.rows.findIndex(row => row.id === job.id);
  const fits = matches(job, state.filter);
  if (index >= 0) {
    const rows = state.rows.slice();
    if (fits) {
      rows[index] = job;
      return { ...state, rows, latest };
    }
    rows.splice(index, 1);
    return { ...state, rows, latest, total: Math.max(0, state.total - 1) };
  }
  if (!fits) return { ...state, latest };
  // A job that was not shown now fits: new on the server, or one that changed into the filter.
  if (known && matches(known, state.filter)) return { ...state, latest }; // already counted, on another page
  // On a later page it shifts the rows without showing here: the count waits for the next read.
  if (state.offset > 0) return { ...state, latest, total: state.total + 1 };
  const rows = [...state.rows, job].sort(newestFirst);
  if (rows.length > state.limit) {
    if (rows[rows.length - 1].id === job.id) return { ...state, latest }; // an older job, on a later page
    rows.length = state.limit;
  }
  return { ...state, rows, latest, total: state.total + 1 };
}

function applyDeleted(state: JobListState, id: string): JobListState {
  if (state.deleted.has(id)) return state;
  const deleted = new Set(state.deleted).add(id);
  const latest = new Map(state.latest);
  latest.delete(id);
  const rows = state.rows.filter(row => row.id !== id);
  const total = rows.length < state.rows.length ? Math.max(0, state.total - 1) : state.total;
  return { ...state, rows, total, deleted, latest };
}

/**
 * Whether a job event tells of a job that just ended: terminal now, and not already told of
 * (``told`` holds the ids already announced; the caller adds this one when it announces it).
 */
export function endedNow(event: ComputeEvent, told: ReadonlySet<string>): Job | null {
  if (event.event !== 'job') return null;
  const job = event.data;
  return isTerminal(job.state) && !told.has(job.id) ? job : null;
}
