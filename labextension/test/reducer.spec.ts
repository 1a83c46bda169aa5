import { describe, expect, it } from 'vitest';

import { endedNow, initialState, JobListState, reduce } from '../src/reducer';
import { SSEParser } from '../src/sse';
import type { ComputeEvent, Job, JobState } from '../src/types';

const T0 = Date.parse('2026-12-01T10:00:00Z');

function job(id: string, state: JobState, createdS: number, updatedS: number, extra: Partial<Job> = {}): Job {
  return {
    id, backend: 'local', name: `job ${id}`, remote_id: null, state, native_status: state.toLowerCase(), message: '',
    created: new Date(T0 + createdS * 1000).toISOString(), updated: new Date(T0 + updatedS * 1000).toISOString(),
    started: null, finished: null, tags: [], results: [], spec: {}, ...extra
  };
}

const changed = (data: Job): ComputeEvent => ({ event: 'job', data });
const deleted = (id: string): ComputeEvent => ({ event: 'job_deleted', data: { id } });

function page(state: JobListState, rows: Job[], total = rows.length, filter = state.filter): JobListState {
  return reduce(state, { type: 'page', rows, total, offset: 0, limit: state.limit, filter });
}

function apply(state: JobListState, ...events: ComputeEvent[]): JobListState {
  return events.reduce((s, event) => reduce(s, { type: 'event', event }), state);
}

const ids = (state: JobListState) => state.rows.map(row => row.id);
const states = (state: JobListState) => state.rows.map(row => row.state);

describe('job list reducer', () => {
  it('puts a new job at the top and counts it', () => {
    let state = page(initialState(), [job('b', 'SUCCEEDED', 20, 30), job('a', 'FAILED', 10, 15)], 2);
    state = apply(state, changed(job('c', 'QUEUED', 40, 40)));
    expect(ids(state)).toEqual(['c', 'b', 'a']);
    expect(state.total).toBe(3);
  });

  it('ignores an event that arrives after a newer one (out of order)', () => {
    let state = page(initialState(), []);
    state = apply(
      state,
      changed(job('j', 'QUEUED', 0, 0)),
      changed(job('j', 'SUCCEEDED', 0, 5)),
      changed(job('j', 'RUNNING', 0, 2)) // sent before SUCCEEDED, delivered after it
    );
    expect(states(state)).toEqual(['SUCCEEDED']);
    expect(state.total).toBe(1);
  });

  it('keeps a terminal state over a non-terminal one stamped the same instant', () => {
    let state = page(initialState(), [job('j', 'RUNNING', 0, 1)]);
    state = apply(state, changed(job('j', 'CANCELLED', 0, 3)), changed(job('j', 'RUNNING', 0, 3)));
    expect(states(state)).toEqual(['CANCELLED']);
  });

  it('keeps events that overtook the page read after a reconnect', () => {
    let state = page(initialState(), [job('j', 'QUEUED', 0, 0)]);
    state = reduce(state, { type: 'reconnected' });
    expect(state.loaded).toBe(false);
    // While the page is being read again, the stream already says the job finished ...
    state = apply(state, changed(job('j', 'SUCCEEDED', 0, 9)));
    // ... and the page, read a moment earlier, still has it running, plus a job missed while offline.
    state = page(state, [job('k', 'RUNNING', 5, 6), job('j', 'RUNNING', 0, 4)], 2);
    expect(state.loaded).toBe(true);
    expect(ids(state)).toEqual(['k', 'j']);
    expect(states(state)).toEqual(['RUNNING', 'SUCCEEDED']);
    expect(state.total).toBe(2);
  });

  it('keeps a job created while a page was being read, when that page arrives', () => {
    let state = page(initialState(), [job('a', 'SUCCEEDED', 10, 12)]);
    state = apply(state, changed(job('n', 'QUEUED', 20, 20))); // its event overtakes the page asked before it
    state = page(state, [job('a', 'SUCCEEDED', 10, 12)], 1);
    expect(ids(state)).toEqual(['n', 'a']);
    expect(state.total).toBe(2);
    state = apply(state, changed(job('n', 'RUNNING', 20, 21)));
    expect(states(state)).toEqual(['RUNNING', 'SUCCEEDED']);
    expect(state.total).toBe(2);
  });

  it('orders two changes stamped within the same millisecond', () => {
    const at = (us: string) => job('j', 'QUEUED', 0, 0, { updated: `2026-12-01T10:00:01.123${us}+00:00` });
    let state = page(initialState(), [at('100')]);
    state = apply(state, changed({ ...at('900'), state: 'RUNNING' }), changed({ ...at('400'), state: 'QUEUED' }));
    expect(states(state)).toEqual(['RUNNING']);
  });

  it('removes a deleted job and never brings it back', () => {
    let state = page(initialState(), [job('b', 'RUNNING', 20, 20), job('a', 'SUCCEEDED', 10, 12)], 2);
    state = apply(state, deleted('b'));
    expect(ids(state)).toEqual(['a']);
    expect(state.total).toBe(1);
    // A late change of the deleted job, and a page read before the delete reached the store:
    state = apply(state, changed(job('b', 'CANCELLED', 20, 25)), deleted('b'));
    expect(ids(state)).toEqual(['a']);
    state = page(state, [job('b', 'RUNNING', 20, 20), job('a', 'SUCCEEDED', 10, 12)], 2);
    expect(ids(state)).toEqual(['a']);
    expect(state.total).toBe(1);
  });

  it('drops a row whose new state leaves the filter, and takes one that enters it', () => {
    let state = page(initialState(50, { state: ['RUNNING'] }), [job('r', 'RUNNING', 5, 5)], 1);
    state = apply(state, changed(job('r', 'SUCCEEDED', 5, 8)));
    expect(ids(state)).toEqual([]);
    expect(state.total).toBe(0);
    state = apply(state, changed(job('n', 'QUEUED', 9, 9)));
    expect(ids(state)).toEqual([]);
    state = apply(state, changed(job('n', 'RUNNING', 9, 10)));
    expect(ids(state)).toEqual(['n']);
    expect(state.total).toBe(1);
  });

  it('keeps a full page at its limit, newest first', () => {
    const rows = [job('c', 'QUEUED', 30, 30), job('b', 'QUEUED', 20, 20)];
    let state = page(initialState(2), rows, 10);
    state = apply(state, changed(job('d', 'QUEUED', 40, 40)));
    expect(ids(state)).toEqual(['d', 'c']);
    expect(state.total).toBe(11);
    state = apply(state, changed(job('old', 'RUNNING', 1, 41))); // an old job changing: a later page's
    expect(ids(state)).toEqual(['d', 'c']);
    expect(state.total).toBe(11);
  });

  it('announces a job once, when it ends', () => {
    const told = new Set<string>();
    expect(endedNow(changed(job('j', 'RUNNING', 0, 1)), told)).toBeNull();
    const ended = endedNow(changed(job('j', 'TIMED_OUT', 0, 2)), told);
    expect(ended?.state).toBe('TIMED_OUT');
    told.add('j');
    expect(endedNow(changed(job('j', 'TIMED_OUT', 0, 3)), told)).toBeNull();
    expect(endedNow(deleted('j'), told)).toBeNull();
  });
});

describe('server-sent events parser', () => {
  it('reads events split anywhere across chunks, and skips comments', () => {
    const parser = new SSEParser();
    const wire = ': connected\n\nevent: job\ndata: {"id":"a"}\n\n: keepalive\n\nevent: job_deleted\r\ndata: {"id":"b"}\r\n\r\n';
    const seen = [];
    for (let i = 0; i < wire.length; i += 7) seen.push(...parser.push(wire.slice(i, i + 7)));
    expect(seen).toEqual([
      { event: 'job', data: '{"id":"a"}' },
      { event: 'job_deleted', data: '{"id":"b"}' }
    ]);
  });
});
