/** The Jobs part of the sidebar: one server page of every backend's jobs, kept live by the event stream. */

import { Widget } from '@lumino/widgets';

import { ComputeApi } from './api';
import { h, formatDuration, jobDuration, localTime, relativeTime, stateBadge } from './dom';
import { EventStream } from './events';
import { TimelineStrip } from './timeline';
import { initialState, JobFilter, JobListAction, JobListState, reduce } from './reducer';
import type { Backend, ComputeEvent, Job, JobState } from './types';
import { isTerminal, JOB_STATES, readOnlyReason } from './types';

export const PAGE_SIZE = 50;

export interface JobListOptions {
  api: ComputeApi;
  stream: EventStream;
  openJob: (id: string) => void;
}

export class JobListView extends Widget {
  private _state: JobListState = initialState(PAGE_SIZE);
  /** The server's backends; null until they are read. */
  private _backends: Backend[] | null = null;
  private readonly _rows = new Map<string, HTMLLIElement>();
  private _request = 0;
  private _applied = 0;
  private _pagerShows = '';
  private _query = '';
  private _renderQueued = false;
  private _ticker: ReturnType<typeof setInterval> | null = null;
  private _searchTimer: ReturnType<typeof setTimeout> | null = null;

  private readonly _backendSelect = h('select', { class: 'jp-Compute-select', 'aria-label': 'Filter by backend' });
  private readonly _stateSelect = h('select', { class: 'jp-Compute-select', 'aria-label': 'Filter by state' });
  private readonly _search = h('input', {
    class: 'jp-Compute-select jp-Compute-search', type: 'search', placeholder: 'Search jobs', 'aria-label': 'Search jobs'
  });
  private readonly _notices = h('div', { class: 'jp-Compute-notices' });
  private readonly _list = h('ul', { class: 'jp-Compute-jobList', role: 'listbox', 'aria-label': 'Compute jobs', tabindex: '0' });
  private readonly _empty = h('div', { class: 'jp-Compute-empty' });
  private readonly _pager = h('div', { class: 'jp-Compute-pager' });
  private readonly _status = h('div', { class: 'jp-Compute-streamStatus', role: 'status', 'aria-live': 'polite' });
  private readonly _timeline: TimelineStrip;

  constructor(private readonly options: JobListOptions) {
    super();
    this.addClass('jp-Compute-jobs');
    this._timeline = new TimelineStrip(id => options.openJob(id));
    this._stateSelect.append(
      h('option', { value: '' }, 'All states'),
      ...JOB_STATES.map(state => h('option', { value: state }, state.replace('_', ' ').toLowerCase()))
    );
    this._backendSelect.append(h('option', { value: '' }, 'All backends'));
    this._backendSelect.addEventListener('change', () => this._setFilter());
    this._stateSelect.addEventListener('change', () => this._setFilter());
    this._search.addEventListener('input', () => {
      if (this._searchTimer) clearTimeout(this._searchTimer);
      this._searchTimer = setTimeout(() => this._setFilter(), 250);
    });
    this._list.addEventListener('keydown', event => this._onKey(event));
    this.node.append(
      h('div', { class: 'jp-Compute-filters' }, this._backendSelect, this._stateSelect, this._search),
      this._notices,
      this._status,
      this._timeline.node,
      this._list,
      this._empty,
      this._pager
    );
    options.stream.event.connect(this._onEvent, this);
    options.stream.connected.connect(this._onReconnected, this);
    options.stream.statusChanged.connect(this._showStreamStatus, this);
    this._showStreamStatus();
    void this.reload();
    void this.loadBackends();
  }

  get state(): JobListState {
    return this._state;
  }

  dispose(): void {
    if (this.isDisposed) return;
    this.options.stream.event.disconnect(this._onEvent, this);
    this.options.stream.connected.disconnect(this._onReconnected, this);
    this.options.stream.statusChanged.disconnect(this._showStreamStatus, this);
    if (this._ticker) clearInterval(this._ticker);
    super.dispose();
  }

  protected onAfterAttach(): void {
    this._ticker = setInterval(() => this._tick(), 1000);
  }

  protected onAfterShow(): void {
    this._tick();
  }

  protected onBeforeDetach(): void {
    if (this._ticker) clearInterval(this._ticker);
    this._ticker = null;
  }

  /** The backends (for the filter) and those that cannot work, with their reason. */
  async loadBackends(): Promise<void> {
    try {
      this._backends = await this.options.api.backends();
    } catch (error) {
      this._notices.replaceChildren(h('div', { class: 'jp-Compute-error' }, `Backends could not be listed: ${(error as Error).message}`));
      return;
    }
    const chosen = this._backendSelect.value;
    this._backendSelect.replaceChildren(
      h('option', { value: '' }, 'All backends'),
      ...this._backends.map(b => h('option', { value: b.name, selected: b.name === chosen }, b.available ? b.name : `${b.name} (unavailable)`))
    );
    this._notices.replaceChildren(
      ...this._backends
        .filter(b => !b.available)
        .map(b =>
          h('div', { class: 'jp-Compute-unavailable', 'data-backend': b.name },
            h('span', { class: 'jp-Compute-unavailable-name' }, b.name), ` unavailable: ${b.message ?? 'no reason given'}`)
        )
    );
    for (const job of this._state.rows) {
      const row = this._rows.get(job.id);
      if (row) this._fillRow(row, job); // a row's job may have become read-only, or no longer be
    }
  }

  /**
   * Read the current page again from the server. Answers are applied in the order they were asked
   * for: one that comes after a later read's answer is dropped, and so is an answer to a query the
   * user has since changed (other filters or page); the reducer keeps rows that events made newer.
   */
  async reload(offset = this._state.offset): Promise<void> {
    const filter = this._filter();
    const query = JSON.stringify([filter, offset]);
    const request = ++this._request;
    this._query = query;
    try {
      const page = await this.options.api.jobs({ ...filter, limit: PAGE_SIZE, offset });
      if (request < this._applied || query !== this._query) return;
      this._applied = request;
      this._dispatch({ type: 'page', rows: page.jobs, total: page.total, offset: page.offset, limit: page.limit, filter });
    } catch (error) {
      if (request !== this._request) return;
      this._empty.textContent = `Jobs could not be listed: ${(error as Error).message}`;
      this._empty.classList.add('jp-Compute-error');
    }
  }

  private _filter(): JobFilter {
    const state = this._stateSelect.value as JobState | '';
    return {
      backend: this._backendSelect.value || undefined,
      state: state ? [state] : undefined,
      q: this._search.value.trim() || undefined
    };
  }

  private _setFilter(): void {
    void this.reload(0);
  }

  private _onEvent(_: EventStream, event: ComputeEvent): void {
    this._dispatch({ type: 'event', event });
  }

  private _onReconnected(): void {
    this._dispatch({ type: 'reconnected' });
    void this.reload();
    void this.loadBackends();
  }

  private _showStreamStatus(): void {
    const status = this.options.stream.status;
    this._status.textContent = status === 'connected' ? '' : status === 'connecting' ? 'Connecting to the server…' : 'Reconnecting to the server…';
    this.node.dataset.stream = status;
  }

  private _dispatch(action: JobListAction): void {
    this._state = reduce(this._state, action);
    if (!this._renderQueued) {
      this._renderQueued = true;
      requestAnimationFrame(() => {
        this._renderQueued = false;
        this._render();
      });
    }
  }

  private _render(): void {
    const state = this._state;
    const focused = document.activeElement;
    const seen = new Set<string>();
    state.rows.forEach((job, index) => {
      seen.add(job.id);
      let row = this._rows.get(job.id);
      if (!row) {
        row = this._makeRow(job.id);
        this._rows.set(job.id, row);
      }
      if (row.dataset.updated !== job.updated) this._fillRow(row, job);
      if (this._list.children[index] !== row) this._list.insertBefore(row, this._list.children[index] ?? null);
    });
    for (const [id, row] of this._rows) {
      if (!seen.has(id)) {
        row.remove();
        this._rows.delete(id);
      }
    }
    if (focused instanceof HTMLElement && !focused.isConnected) this._list.focus();
    this._list.setAttribute('aria-busy', state.loaded ? 'false' : 'true');
    const filtered = Boolean(state.filter.backend || state.filter.state || state.filter.q);
    this._empty.classList.remove('jp-Compute-error');
    this._empty.textContent = !state.loaded || state.rows.length
      ? ''
      : filtered
        ? 'No job matches these filters.'
        : 'No jobs yet. Submit one with “New job”, from a notebook (Client().submit), or with %submit_job.';
    this._renderPager();
    this._timeline.update(state.rows);
    this._tick();
  }

  private _renderPager(): void {
    const { offset, total, rows } = this._state;
    const shown = `${offset}/${rows.length}/${total}`;
    if (shown === this._pagerShows) return; // keeps a focused pager button in place
    this._pagerShows = shown;
    if (!total) {
      this._pager.replaceChildren();
      return;
    }
    const first = rows.length ? offset + 1 : 0;
    const prev = h('button', { class: 'jp-Button jp-mod-minimal', 'aria-label': 'Newer jobs', disabled: offset === 0 }, '‹');
    const next = h('button', { class: 'jp-Button jp-mod-minimal', 'aria-label': 'Older jobs', disabled: offset + PAGE_SIZE >= total }, '›');
    prev.addEventListener('click', () => void this.reload(Math.max(0, offset - PAGE_SIZE)));
    next.addEventListener('click', () => void this.reload(offset + PAGE_SIZE));
    this._pager.replaceChildren(
      prev,
      h('span', { class: 'jp-Compute-pagerText' }, `${first.toLocaleString()}–${(offset + rows.length).toLocaleString()} of ${total.toLocaleString()}`),
      next
    );
  }

  private _makeRow(id: string): HTMLLIElement {
    const row = h('li', { class: 'jp-Compute-jobRow', role: 'option', tabindex: '-1', 'data-job-id': id });
    row.addEventListener('click', () => this.options.openJob(id));
    return row;
  }

  private _fillRow(row: HTMLLIElement, job: Job): void {
    row.dataset.updated = job.updated;
    row.dataset.state = job.state;
    const readOnly = readOnlyReason(job.backend, this._backends);
    row.classList.toggle('jp-mod-readOnly', Boolean(readOnly));
    row.setAttribute('aria-label',
      `${job.name}, ${job.backend}, ${job.state.replace('_', ' ').toLowerCase()}${readOnly ? ', read-only' : ''}`);
    const created = h('time', { class: 'jp-Compute-created', datetime: job.created, title: `created ${localTime(job.created)}` });
    row.replaceChildren(
      h('div', { class: 'jp-Compute-jobRow-main' },
        h('span', { class: 'jp-Compute-jobName', title: job.name }, job.name || job.id),
        stateBadge(job.state, job.native_status)),
      h('div', { class: 'jp-Compute-jobRow-meta' },
        readOnly
          ? h('span', { class: 'jp-Compute-backend jp-mod-readOnly', title: `Read-only: ${readOnly}` }, `${job.backend} (read-only)`)
          : h('span', { class: 'jp-Compute-backend' }, job.backend),
        created,
        h('span', { class: 'jp-Compute-duration', title: 'duration' }))
    );
  }

  /** Relative times and running durations, every second (while the list shows). */
  private _tick(): void {
    if (!this.isVisible) return;
    const now = Date.now();
    this._timeline.tick(now);
    for (const job of this._state.rows) {
      const row = this._rows.get(job.id);
      if (!row) continue;
      const created = row.querySelector('.jp-Compute-created');
      if (created) created.textContent = relativeTime(job.created, now);
      const duration = row.querySelector('.jp-Compute-duration');
      const ms = jobDuration(job, now);
      if (duration) {
        duration.textContent = ms === null ? '' : formatDuration(ms);
        duration.classList.toggle('jp-mod-running', !isTerminal(job.state));
      }
    }
  }

  private _onKey(event: KeyboardEvent): void {
    const rows = [...this._list.querySelectorAll<HTMLLIElement>('.jp-Compute-jobRow')];
    if (!rows.length) return;
    const current = rows.indexOf(document.activeElement as HTMLLIElement);
    let target = current;
    switch (event.key) {
      case 'ArrowDown':
        target = Math.min(rows.length - 1, current + 1);
        break;
      case 'ArrowUp':
        target = Math.max(0, current - 1);
        break;
      case 'Home':
        target = 0;
        break;
      case 'End':
        target = rows.length - 1;
        break;
      case 'Enter':
      case ' ':
        if (current >= 0) this.options.openJob(rows[current].dataset.jobId!);
        event.preventDefault();
        return;
      default:
        return;
    }
    event.preventDefault();
    rows.forEach((row, i) => row.setAttribute('aria-selected', String(i === target)));
    rows[target].focus();
  }
}
