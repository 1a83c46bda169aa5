/**
 * The sidebar's job timeline: one bar per job of the shown page, from created (waiting, pale) through
 * started (running, in its state's colour) to finished, grouped by backend.
 *
 * It is updated in place: each job keeps its two rectangles, and only what changed is written. Time
 * runs along the x axis in seconds from the oldest job's creation; the SVG's viewBox maps that to the
 * strip's width, so the passing of time changes one attribute and the running bars' widths only.
 */

import { formatDuration } from './dom';
import type { Job, JobState } from './types';
import { isTerminal } from './types';

const SVG = 'http://www.w3.org/2000/svg';
export const ROW_HEIGHT = 8;
export const ROW_GAP = 2;
export const GROUP_GAP = 12;

/** One job's bar: seconds from the origin; ``running`` bars end at "now". */
export interface Bar {
  id: string;
  name: string;
  backend: string;
  state: JobState;
  y: number;
  created: number;
  started: number | null;
  finished: number | null;
}

export interface Layout {
  /** Epoch milliseconds that x = 0 stands for. */
  origin: number;
  bars: Bar[];
  /** Where each backend's group begins (its label's y) and its name. */
  groups: { backend: string; y: number }[];
  height: number;
}

function seconds(iso: string | null, origin: number): number | null {
  if (!iso) return null;
  const at = Date.parse(iso);
  return Number.isNaN(at) ? null : (at - origin) / 1000;
}

/** Where every job's bar goes: grouped by backend (in name order), oldest first within a group. */
export function layoutTimeline(jobs: readonly Job[]): Layout {
  const created = jobs.map(job => Date.parse(job.created)).filter(at => !Number.isNaN(at));
  const origin = created.length ? Math.min(...created) : Date.now();
  const sorted = [...jobs].sort((a, b) => a.backend.localeCompare(b.backend) || a.created.localeCompare(b.created) || a.id.localeCompare(b.id));
  const bars: Bar[] = [];
  const groups: Layout['groups'] = [];
  let y = 0;
  for (const job of sorted) {
    if (!groups.length || groups[groups.length - 1].backend !== job.backend) {
      if (groups.length) y += GROUP_GAP - ROW_GAP;
      groups.push({ backend: job.backend, y });
      y += GROUP_GAP;
    }
    bars.push({
      id: job.id,
      name: job.name || job.id,
      backend: job.backend,
      state: job.state,
      y,
      created: seconds(job.created, origin) ?? 0,
      started: seconds(job.started, origin),
      finished: seconds(job.finished, origin)
    });
    y += ROW_HEIGHT + ROW_GAP;
  }
  return { origin, bars, groups, height: Math.max(y, ROW_HEIGHT) };
}

const RAN: ReadonlySet<JobState> = new Set<JobState>(['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT']);

/** The x extents of a bar's waiting and running parts at ``now`` (seconds from the origin); a job that
 * ran but whose platform gave no start time runs from its creation. */
export function barSegments(bar: Bar, now: number): { wait: [number, number]; run: [number, number] | null } {
  const end = bar.finished ?? (isTerminal(bar.state) ? bar.started ?? bar.created : now);
  const started = bar.started ?? (RAN.has(bar.state) ? bar.created : null);
  if (started === null) return { wait: [bar.created, Math.max(bar.created, end)], run: null };
  return { wait: [bar.created, Math.max(bar.created, started)], run: [started, Math.max(started, end)] };
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string>): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  return node;
}

function set(node: Element, name: string, value: string): void {
  if (node.getAttribute(name) !== value) node.setAttribute(name, value);
}

interface Drawn {
  wait: SVGRectElement;
  run: SVGRectElement;
  title: SVGTitleElement;
  bar: Bar;
}

/** The strip: ``update(jobs)`` when the page changes, ``tick(now)`` every second. */
export class TimelineStrip {
  readonly node: HTMLDetailsElement;
  private readonly _svg: SVGSVGElement;
  private readonly _labels: HTMLElement;
  private readonly _span: HTMLElement;
  private readonly _drawn = new Map<string, Drawn>();
  private _layout: Layout = { origin: Date.now(), bars: [], groups: [], height: ROW_HEIGHT };
  /** How many rectangles were created since the strip was made (a live update creates none for known jobs). */
  created = 0;

  /** ``onOpen``: called with a job's id when its bar is clicked. */
  constructor(onOpen?: (id: string) => void) {
    this.node = document.createElement('details');
    this.node.className = 'jp-Compute-timeline';
    this.node.open = true;
    const summary = document.createElement('summary');
    this._span = document.createElement('span');
    this._span.className = 'jp-Compute-timeline-span';
    summary.append('Timeline', this._span);
    summary.title = 'What ran when: pale while waiting, coloured while running and after';
    this._labels = document.createElement('div');
    this._labels.className = 'jp-Compute-timeline-labels';
    this._svg = svg('svg', { class: 'jp-Compute-timeline-bars', preserveAspectRatio: 'none', role: 'img' });
    const plot = document.createElement('div');
    plot.className = 'jp-Compute-timeline-plot';
    plot.append(this._labels, this._svg);
    this.node.append(summary, plot);
    if (onOpen) {
      this._svg.addEventListener('click', event => {
        const id = (event.target as Element).closest('g[data-job-id]')?.getAttribute('data-job-id');
        if (id) onOpen(id);
      });
    }
  }

  /** Draw the page's jobs: new bars are added, gone ones removed, the rest only changed where they differ. */
  update(jobs: readonly Job[], now = Date.now()): void {
    const layout = layoutTimeline(jobs);
    this._layout = layout;
    this.node.hidden = jobs.length === 0;
    const seen = new Set<string>();
    for (const bar of layout.bars) {
      seen.add(bar.id);
      let drawn = this._drawn.get(bar.id);
      if (!drawn) {
        drawn = {
          wait: svg('rect', { class: 'jp-Compute-timeline-wait', 'data-job-id': bar.id }),
          run: svg('rect', { class: 'jp-Compute-timeline-run', 'data-job-id': bar.id }),
          title: svg('title', {}),
          bar
        };
        this.created += 2;
        const group = svg('g', { 'data-job-id': bar.id });
        group.append(drawn.title, drawn.wait, drawn.run);
        this._svg.append(group);
        this._drawn.set(bar.id, drawn);
      }
      drawn.bar = bar;
      const title = `${bar.name} (${bar.backend}): ${bar.state.replace('_', ' ').toLowerCase()}`;
      if (drawn.title.textContent !== title) drawn.title.textContent = title;
      for (const rect of [drawn.wait, drawn.run]) {
        set(rect, 'y', String(bar.y));
        set(rect, 'height', String(ROW_HEIGHT));
        set(rect, 'data-state', bar.state);
      }
      set(drawn.run, 'class', `jp-Compute-timeline-run jp-Compute-tl-${bar.state}`);
    }
    for (const [id, drawn] of this._drawn) {
      if (!seen.has(id)) {
        drawn.wait.parentElement?.remove();
        this._drawn.delete(id);
      }
    }
    this._labels.replaceChildren(
      ...layout.groups.map(group => {
        const label = document.createElement('span');
        label.className = 'jp-Compute-timeline-backend';
        label.textContent = group.backend;
        label.style.top = `${group.y}px`;
        return label;
      })
    );
    this._svg.style.height = `${layout.height}px`;
    this.tick(now);
  }

  /** Move "now": the viewBox's width and the bars still running. */
  tick(now = Date.now()): void {
    const { origin, height } = this._layout;
    const at = (now - origin) / 1000;
    const span = Math.max(1, at * 1.02);
    set(this._svg, 'viewBox', `0 0 ${span.toFixed(3)} ${height}`);
    const shown = `the last ${formatDuration(at * 1000)}`;
    if (this._span.textContent !== shown) this._span.textContent = shown;
    // a bar is at least 2 px wide, so that a short job still shows
    const least = (2 * span) / Math.max(1, this._svg.clientWidth || 200);
    for (const { wait, run, bar } of this._drawn.values()) {
      const { wait: w, run: r } = barSegments(bar, at);
      set(wait, 'x', w[0].toFixed(3));
      set(wait, 'width', Math.max(r ? 0 : least, w[1] - w[0]).toFixed(3));
      set(run, 'x', (r ? r[0] : w[1]).toFixed(3));
      set(run, 'width', (r ? Math.max(least, r[1] - r[0]) : 0).toFixed(3));
    }
  }
}
