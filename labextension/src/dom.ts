/** Small helpers to build DOM nodes, and the words shared by every view (times, sizes, states). */

import type { Job, JobState } from './types';
import { isTerminal } from './types';

type Child = Node | string | null | undefined | false;

/** ``h('div', {class: 'x', title: 'y'}, child, ...)``: an element with attributes and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number | boolean | EventListener | undefined> = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') node.addEventListener(name.replace(/^on/, ''), value);
    else if (name === 'class') node.className = String(value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child);
  }
  return node;
}

const STATE_ICONS: Record<JobState, string> = {
  QUEUED: '◷',
  RUNNING: '▶',
  SUCCEEDED: '✓',
  FAILED: '✕',
  CANCELLED: '⊘',
  TIMED_OUT: '⧗',
  UNKNOWN: '?'
};

/** A state badge: colour and icon, the whole state in words, the native status on hover. */
export function stateBadge(state: JobState, nativeStatus = ''): HTMLElement {
  const words = state.replace('_', ' ').toLowerCase();
  return h(
    'span',
    {
      class: `jp-Compute-badge jp-Compute-state-${state}`,
      title: nativeStatus ? `${state} — platform status: ${nativeStatus}` : state,
      'data-state': state
    },
    h('span', { class: 'jp-Compute-badge-icon', 'aria-hidden': 'true' }, STATE_ICONS[state] ?? '?'),
    words
  );
}

const RELATIVE = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

/** '3 min ago' for a past instant, in the user's language. */
export function relativeTime(iso: string | null, now = Date.now()): string {
  if (!iso) return '';
  const seconds = (Date.parse(iso) - now) / 1000;
  const abs = Math.abs(seconds);
  if (abs < 45) return RELATIVE.format(Math.round(seconds), 'second');
  if (abs < 45 * 60) return RELATIVE.format(Math.round(seconds / 60), 'minute');
  if (abs < 22 * 3600) return RELATIVE.format(Math.round(seconds / 3600), 'hour');
  if (abs < 26 * 86400) return RELATIVE.format(Math.round(seconds / 86400), 'day');
  return new Date(iso).toLocaleDateString();
}

/** The instant in the user's local time, to the second. */
export function localTime(iso: string | null): string {
  return iso ? new Date(iso).toLocaleString() : '—';
}

/** '2 h 05 min', '3 min 07 s', '4.2 s'. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.floor(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(Math.floor(s % 60)).padStart(2, '0')} s`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours} h ${String(m % 60).padStart(2, '0')} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** How long the job ran (or has been running): from start (or creation) to finish (or now). */
export function jobDuration(job: Job, now = Date.now()): number | null {
  const start = Date.parse(job.started ?? job.created);
  if (Number.isNaN(start)) return null;
  if (job.finished) return Date.parse(job.finished) - start;
  if (isTerminal(job.state)) return null;
  return now - start;
}

export function formatBytes(size: number | null): string {
  if (size === null || size === undefined) return '';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = size;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

export function formatNumber(value: number | null | undefined, digits = 0, grouping = true): string {
  return value === null || value === undefined ? '—'
    : value.toLocaleString(undefined, { maximumFractionDigits: digits, useGrouping: grouping });
}

/** A number for a narrow table cell: no thousands separator, one decimal below 100. */
export function cellNumber(value: number | null | undefined): string {
  return formatNumber(value, value !== null && value !== undefined && Math.abs(value) < 100 ? 1 : 0, false);
}
