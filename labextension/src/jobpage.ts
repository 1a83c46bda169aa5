/** A job's own page in the main area: details, state history, spec, log, results and actions. */

import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { ComputeApi } from './api';
import { formatBytes, formatDuration, h, jobDuration, localTime, stateBadge } from './dom';
import { EventStream } from './events';
import { isNewer } from './reducer';
import type { Backend, ComputeEvent, Job, JobState, ResultFile } from './types';
import { isTerminal, readOnlyReason } from './types';

const LOG_POLL_MS = 1500;
const TABLE_SUFFIXES = /\.(csv|tsv|parquet|pq|json|jsonl|ndjson)$/i;

export interface JobPageOptions {
  api: ComputeApi;
  stream: EventStream;
  jobId: string;
  /** Insert code loading ``result`` of the job into a notebook. */
  openInNotebook: (job: Job, result: string | null) => Promise<void>;
}

/** The result a notebook most likely wants: the first table (CSV, TSV, Parquet, JSON); null when none. */
export function tableResult(results: ResultFile[]): string | null {
  return results.find(r => r.kind !== 'log' && TABLE_SUFFIXES.test(r.name))?.name ?? null;
}

export class JobPage extends Widget {
  private _job: Job | null = null;
  private _backend: Backend | null = null;
  /** Why this job can only be read (its backend is not configured here, or cannot work); null if not. */
  private _readOnly: string | null = null;
  private _history: { state: JobState; at: string }[] = [];
  private _logOffset = 0;
  private _logComplete = false;
  private _logTimer: ReturnType<typeof setTimeout> | null = null;
  private _logReading = false;
  private _ticker: ReturnType<typeof setInterval> | null = null;
  private _resultsFor = '';

  private readonly _header = h('div', { class: 'jp-Compute-pageHeader' });
  private readonly _details = h('dl', { class: 'jp-Compute-details' });
  private readonly _historyList = h('ol', { class: 'jp-Compute-history', 'aria-label': 'State history' });
  private readonly _spec = h('pre', { class: 'jp-Compute-spec' });
  private readonly _log = h('pre', { class: 'jp-Compute-log', tabindex: '0', 'aria-label': 'Job log', 'aria-live': 'off' });
  private readonly _logStatus = h('span', { class: 'jp-Compute-logStatus' });
  private readonly _results = h('div', { class: 'jp-Compute-results' });
  private readonly _message = h('div', { class: 'jp-Compute-pageMessage', role: 'status' });

  constructor(private readonly options: JobPageOptions) {
    super();
    this.id = `jp-Compute-job-${options.jobId}`;
    this.addClass('jp-Compute-jobPage');
    this.title.label = 'Job';
    this.title.closable = true;
    this.node.tabIndex = -1;
    this.node.append(
      this._header,
      this._message,
      h('section', { class: 'jp-Compute-section' }, h('h2', {}, 'Details'), this._details),
      h('section', { class: 'jp-Compute-section' }, h('h2', {}, 'State history'), this._historyList),
      h('section', { class: 'jp-Compute-section' }, h('h2', {}, 'Results'), this._results),
      h('section', { class: 'jp-Compute-section jp-Compute-logSection' }, h('h2', {}, 'Log ', this._logStatus), this._log),
      h('section', { class: 'jp-Compute-section' }, h('h2', {}, 'Spec'), this._spec)
    );
    options.stream.event.connect(this._onEvent, this);
    options.stream.connected.connect(this._reload, this);
    void this._load();
  }

  get job(): Job | null {
    return this._job;
  }

  dispose(): void {
    if (this.isDisposed) return;
    this.options.stream.event.disconnect(this._onEvent, this);
    this.options.stream.connected.disconnect(this._reload, this);
    if (this._logTimer) clearTimeout(this._logTimer);
    if (this._ticker) clearInterval(this._ticker);
    super.dispose();
  }

  protected onAfterAttach(): void {
    this._ticker = setInterval(() => this._tickDuration(), 1000);
  }

  protected onBeforeDetach(): void {
    if (this._ticker) clearInterval(this._ticker);
    this._ticker = null;
  }

  private async _load(): Promise<void> {
    try {
      const [job, backends] = await Promise.all([this.options.api.job(this.options.jobId), this.options.api.backends()]);
      this._backend = backends.find(b => b.name === job.backend) ?? null;
      this._readOnly = readOnlyReason(job.backend, backends);
      this._renderSpec(job);
      // An event may have drawn a newer version before the backend was known: draw it all again.
      const shown = this._job && isNewer(this._job, job) ? this._job : job;
      this._job = null;
      this._resultsFor = '';
      this._update(shown);
      this._history = this._derivedHistory(shown);
      this._renderHistory();
      void this._followLog();
    } catch (error) {
      this._showMessage(`This job could not be read: ${(error as Error).message}`, true);
    }
  }

  private _reload(): void {
    // After a reconnect the stream may have missed changes: read the job again.
    this.options.api.job(this.options.jobId).then(job => {
      this._renderSpec(job);
      this._update(job);
    }, () => undefined);
  }

  private _onEvent(_: EventStream, event: ComputeEvent): void {
    if (event.event === 'job_deleted') {
      if (event.data.id === this.options.jobId) {
        this._showMessage('This job was deleted.', true);
        this._header.querySelectorAll('button').forEach(b => ((b as HTMLButtonElement).disabled = true));
      }
      return;
    }
    if (event.data.id === this.options.jobId) this._update(event.data);
  }

  private _update(job: Job): void {
    if (this._job && !isNewer(job, this._job)) return;
    const before = this._job?.state;
    this._job = job;
    if (before && before !== job.state) {
      this._history.push({ state: job.state, at: job.finished && isTerminal(job.state) ? job.finished : job.updated });
      this._renderHistory();
      void this._followLog();
    }
    this.title.label = job.name || job.id;
    this.title.caption = `${job.name} — ${job.state} on ${job.backend}`;
    this._renderHeader();
    this._renderDetails();
    const resultsKey = `${job.state}:${job.results.map(r => r.name).join('|')}`;
    if (resultsKey !== this._resultsFor) {
      this._resultsFor = resultsKey;
      void this._loadResults();
    }
  }

  /** The spec's given fields (the record also holds every field left empty: null, [] or {}), from a
   *  read of the job itself (lists and events carry a summary of it). */
  private _renderSpec(job: Job): void {
    const given = Object.entries(job.spec).filter(
      ([, v]) => v !== null && v !== '' && !(Array.isArray(v) && !v.length) && !(typeof v === 'object' && !Array.isArray(v) && !Object.keys(v as object).length)
    );
    this._spec.textContent = JSON.stringify(Object.fromEntries(given), null, 2);
  }

  /** What the record tells: created (queued), started (running), finished (its end state). */
  private _derivedHistory(job: Job): { state: JobState; at: string }[] {
    const history: { state: JobState; at: string }[] = [{ state: 'QUEUED', at: job.created }];
    if (job.started) history.push({ state: 'RUNNING', at: job.started });
    if (isTerminal(job.state)) history.push({ state: job.state, at: job.finished ?? job.updated });
    else if (job.state !== 'QUEUED' && job.state !== 'RUNNING') history.push({ state: job.state, at: job.updated });
    else if (job.state === 'RUNNING' && !job.started) history.push({ state: 'RUNNING', at: job.updated });
    return history;
  }

  private _renderHistory(): void {
    this._historyList.replaceChildren(
      ...this._history.map(({ state, at }) => h('li', {}, stateBadge(state), h('time', { datetime: at }, localTime(at))))
    );
  }

  private _renderHeader(): void {
    const job = this._job!;
    const caps = this._backend?.capabilities;
    const cancel = h('button', { class: 'jp-Button jp-mod-styled jp-mod-warn jp-Compute-cancel' }, 'Cancel');
    const del = h('button', { class: 'jp-Button jp-mod-styled jp-mod-reject jp-Compute-delete' }, 'Delete');
    const open = h('button', { class: 'jp-Button jp-mod-styled jp-mod-accept jp-Compute-openInNotebook' }, 'Open in notebook');
    if (this._readOnly) {
      for (const button of [open, cancel, del]) {
        button.disabled = true;
        button.title = `Read-only: ${this._readOnly}`;
      }
    } else if (!caps?.can_cancel) {
      cancel.disabled = true;
      cancel.title = `The ${job.backend} backend cannot cancel jobs`;
    } else if (isTerminal(job.state)) {
      cancel.disabled = true;
      cancel.title = 'The job has ended';
    }
    if (this._readOnly) {
      // every action stays off (above)
    } else if (!caps?.can_delete) {
      del.disabled = true;
      del.title = `The ${job.backend} backend cannot delete jobs`;
    }
    const result = tableResult(job.results);
    if (this._readOnly) {
      // every action stays off (above)
    } else if (job.state !== 'SUCCEEDED' || !result) {
      open.disabled = true;
      open.title = job.state === 'SUCCEEDED' ? 'The job left no result file' : 'Results can be loaded once the job succeeded';
    } else {
      open.title = `Insert code that loads ${result} as a DataFrame`;
    }
    cancel.addEventListener('click', () => void this._cancel());
    del.addEventListener('click', () => void this._delete());
    open.addEventListener('click', () => void this.options.openInNotebook(job, result));
    this._header.replaceChildren(
      h('h1', { class: 'jp-Compute-pageTitle' }, job.name || job.id),
      stateBadge(job.state, job.native_status),
      h('div', { class: 'jp-Compute-actions' }, open, cancel, del),
      ...(this._readOnly
        ? [h('div', { class: 'jp-Compute-readOnly', role: 'note', 'data-backend': job.backend },
            `Read-only: ${this._readOnly}. The job is shown as last recorded; it cannot be cancelled, deleted or `
            + `loaded, and its log and result files cannot be fetched, until “${job.backend}” is configured again.`)]
        : [])
    );
  }

  /** The running duration, every second (the other details change with the job's events only). */
  private _tickDuration(): void {
    const job = this._job;
    if (!job || isTerminal(job.state)) return;
    const ms = jobDuration(job);
    const cell = this._details.querySelector('dd[data-term="Duration"]');
    if (cell) cell.textContent = ms === null ? '—' : formatDuration(ms);
  }

  private _renderDetails(): void {
    const job = this._job;
    if (!job) return;
    const ms = jobDuration(job);
    const rows: [string, string][] = [
      ['Job id', job.id],
      ['Backend', job.backend],
      ['Platform id', job.remote_id ?? '—'],
      ['State', job.state],
      ['Platform status', job.native_status || '—'],
      ['Message', job.message || '—'],
      ['Created', localTime(job.created)],
      ['Started', localTime(job.started)],
      ['Finished', localTime(job.finished)],
      ['Duration', ms === null ? '—' : formatDuration(ms)],
      ['Tags', job.tags.join(', ') || '—']
    ];
    this._details.replaceChildren(...rows.flatMap(([term, value]) => [h('dt', {}, term), h('dd', { 'data-term': term }, value)]));
  }

  private async _loadResults(): Promise<void> {
    const job = this._job!;
    if (this._readOnly) {
      this._results.replaceChildren(job.results.length
        ? h('ul', { class: 'jp-Compute-recordedResults', 'aria-label': 'Recorded result files' },
            job.results.map(r => h('li', {}, r.name, r.size === null ? '' : ` (${formatBytes(r.size)})`)))
        : h('div', { class: 'jp-Compute-empty' }, 'No result files were recorded.'));
      return;
    }
    if (!this._backend?.capabilities.has_results) {
      this._results.replaceChildren(h('div', { class: 'jp-Compute-empty' }, `The ${job.backend} backend keeps no results.`));
      return;
    }
    let results = job.results;
    if (isTerminal(job.state)) {
      try {
        results = await this.options.api.results(job.id);
      } catch (error) {
        this._results.replaceChildren(h('div', { class: 'jp-Compute-error' }, `Results could not be listed: ${(error as Error).message}`));
        return;
      }
    }
    if (!results.length) {
      this._results.replaceChildren(h('div', { class: 'jp-Compute-empty' }, isTerminal(job.state) ? 'No result files.' : 'Results appear when the job ends.'));
      return;
    }
    this._results.replaceChildren(
      h('table', { class: 'jp-Compute-resultTable', 'aria-label': 'Result files' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Size'), h('th', { scope: 'col' }, ''))),
        h('tbody', {}, results.map(r => {
          const download = h('button', { class: 'jp-Button jp-mod-minimal jp-Compute-download', 'aria-label': `Download ${r.name}` }, 'Download');
          download.addEventListener('click', () => void this._download(r.name));
          const load = h('button', { class: 'jp-Button jp-mod-minimal', 'aria-label': `Load ${r.name} in a notebook` }, 'Load in notebook');
          load.addEventListener('click', () => void this.options.openInNotebook(job, r.name));
          return h('tr', { 'data-result': r.name },
            h('td', {}, r.name, r.kind === 'log' ? h('span', { class: 'jp-Compute-muted' }, ' (log)') : null),
            h('td', { class: 'jp-mod-number' }, formatBytes(r.size)),
            h('td', {}, download, r.kind !== 'log' ? load : null));
        })))
    );
  }

  private async _download(name: string): Promise<void> {
    try {
      const blob = await this.options.api.resultBlob(this.options.jobId, name);
      const url = URL.createObjectURL(blob);
      const link = h('a', { href: url, download: name.split('/').pop() ?? name });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (error) {
      void showErrorMessage('Download failed', (error as Error).message);
    }
  }

  /** Reads the log from where it stopped, again every 1.5 s while the job runs (one read at a time). */
  private async _followLog(): Promise<void> {
    if (this._logReading || this.isDisposed) return;
    if (this._logTimer) clearTimeout(this._logTimer);
    this._logTimer = null;
    const job = this._job;
    if (!job || !(this._backend || this._readOnly) || (this._logComplete && isTerminal(job.state))) return; // _load starts it
    this._logReading = true;
    try {
      await this._readLog(job);
    } finally {
      this._logReading = false;
    }
    if (!this._logComplete && !this.isDisposed) {
      this._logTimer = setTimeout(() => void this._followLog(), LOG_POLL_MS);
    }
  }

  private async _readLog(job: Job): Promise<void> {
    if (this._readOnly) {
      this._log.textContent = `The log is kept by ${job.backend}, and ${this._readOnly}.`;
      this._logComplete = true;
      return;
    }
    if (!this._backend?.capabilities.has_logs) {
      this._log.textContent = `The ${job.backend} backend offers no logs.`;
      this._logComplete = true;
      return;
    }
    const ended = isTerminal(job.state);
    try {
      const chunk = await this.options.api.logs(job.id, this._logOffset);
      if (chunk.text) {
        const atBottom = this._log.scrollTop + this._log.clientHeight >= this._log.scrollHeight - 4;
        this._log.append(chunk.text);
        if (atBottom) this._log.scrollTop = this._log.scrollHeight;
      }
      this._logOffset = chunk.offset;
      this._logComplete = chunk.complete || (ended && !chunk.text);
    } catch (error) {
      this._logStatus.textContent = `(could not be read: ${(error as Error).message})`;
      this._logComplete = ended;
      return;
    }
    this._logStatus.textContent = !this._logComplete ? (ended ? '(reading the rest…)' : '(following)')
      : this._log.textContent ? '' : '(empty)';
  }

  private async _cancel(): Promise<void> {
    const job = this._job!;
    const answer = await showDialog({
      title: 'Cancel this job?',
      body: `“${job.name}” on ${job.backend} will be stopped.`,
      buttons: [Dialog.cancelButton({ label: 'Keep running' }), Dialog.warnButton({ label: 'Cancel job' })]
    });
    if (!answer.button.accept) return;
    try {
      this._update(await this.options.api.cancel(job.id));
      this._showMessage('Cancel requested.');
    } catch (error) {
      this._showMessage(`Cancel failed: ${(error as Error).message}`, true);
    }
  }

  private async _delete(): Promise<void> {
    const job = this._job!;
    const answer = await showDialog({
      title: 'Delete this job?',
      body: `“${job.name}” will be removed from ${job.backend} and from the job list, with its logs and results.`,
      buttons: [Dialog.cancelButton({ label: 'Keep' }), Dialog.warnButton({ label: 'Delete job' })]
    });
    if (!answer.button.accept) return;
    try {
      await this.options.api.delete(job.id);
      this.dispose();
    } catch (error) {
      this._showMessage(`Delete failed: ${(error as Error).message}`, true);
    }
  }

  private _showMessage(text: string, error = false): void {
    this._message.textContent = text;
    this._message.classList.toggle('jp-Compute-error', error);
  }
}
