import { describe, expect, it } from 'vitest';

import { barSegments, GROUP_GAP, layoutTimeline, ROW_GAP, ROW_HEIGHT } from '../src/timeline';
import type { Job, JobState } from '../src/types';

const T0 = Date.parse('2026-12-07T10:00:00Z');
const at = (s: number | null): string | null => (s === null ? null : new Date(T0 + s * 1000).toISOString());

function job(id: string, backend: string, state: JobState, created: number, started: number | null = null, finished: number | null = null): Job {
  return {
    id, backend, name: id, remote_id: null, state, native_status: '', message: '', created: at(created)!, updated: at(created)!,
    started: at(started), finished: at(finished), tags: [], results: [], spec: {}
  };
}

describe('layoutTimeline', () => {
  it('groups bars by backend, oldest first, with x in seconds from the oldest creation', () => {
    const layout = layoutTimeline([
      job('b2', 'ocean', 'RUNNING', 30, 40),
      job('a1', 'local', 'SUCCEEDED', 10, 12, 20),
      job('b1', 'ocean', 'QUEUED', 20),
      job('a2', 'local', 'FAILED', 5, 6, 7)
    ]);
    expect(layout.origin).toBe(T0 + 5000);
    expect(layout.bars.map(bar => bar.id)).toEqual(['a2', 'a1', 'b1', 'b2']);
    expect(layout.groups.map(group => group.backend)).toEqual(['local', 'ocean']);
    const [a2, a1, b1] = layout.bars;
    expect(a2.created).toBe(0);
    expect(a1.started).toBe(7);
    expect(a1.y - a2.y).toBe(ROW_HEIGHT + ROW_GAP);
    expect(b1.y).toBeGreaterThanOrEqual(layout.groups[1].y + GROUP_GAP);
    expect(layout.groups[1].y).toBeGreaterThan(a1.y + ROW_HEIGHT);
  });

  it('keeps a job where it was when another one changes state', () => {
    const before = layoutTimeline([job('x', 'local', 'RUNNING', 0, 1), job('y', 'local', 'QUEUED', 2)]);
    const after = layoutTimeline([job('x', 'local', 'SUCCEEDED', 0, 1, 9), job('y', 'local', 'QUEUED', 2)]);
    expect(after.bars.map(bar => [bar.id, bar.y])).toEqual(before.bars.map(bar => [bar.id, bar.y]));
  });
});

describe('barSegments', () => {
  const bar = (state: JobState, created: number, started: number | null, finished: number | null) =>
    layoutTimeline([job('j', 'local', state, 0), job('k', 'local', state, created, started, finished)]).bars[1];

  it('waits until now while queued', () => {
    expect(barSegments(bar('QUEUED', 10, null, null), 25)).toEqual({ wait: [10, 25], run: null });
  });
  it('runs until now while running, and stops at its end once finished', () => {
    expect(barSegments(bar('RUNNING', 10, 12, null), 30)).toEqual({ wait: [10, 12], run: [12, 30] });
    expect(barSegments(bar('SUCCEEDED', 10, 12, 15), 30)).toEqual({ wait: [10, 12], run: [12, 15] });
  });
  it('shows a job cancelled before it started as waiting only', () => {
    expect(barSegments(bar('CANCELLED', 10, null, 14), 30)).toEqual({ wait: [10, 14], run: null });
  });
  it('runs a finished job without a start time from its creation', () => {
    expect(barSegments(bar('SUCCEEDED', 10, null, 18), 30)).toEqual({ wait: [10, 10], run: [10, 18] });
  });
});
