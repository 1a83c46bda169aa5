/** Tells the user when a job ends: a JupyterLab notification, and a browser one when the tab is hidden. */

import { Notification } from '@jupyterlab/apputils';

import { ComputeApi } from './api';
import { EventStream, StreamStatus } from './events';
import { endedNow } from './reducer';
import type { ComputeEvent, Job } from './types';
import { isTerminal } from './types';

export type NotifyScope = 'all' | 'mine' | 'none';

const MINE_KEY = 'jupyter-compute:submitted-here';
const MAX_MINE = 500;

/** Jobs submitted from this browser (kept in localStorage, newest last). */
export function submittedHere(): string[] {
  try {
    const ids = JSON.parse(localStorage.getItem(MINE_KEY) ?? '[]');
    return Array.isArray(ids) ? ids : [];
  } catch {
    return [];
  }
}

export function rememberSubmitted(id: string): void {
  const ids = submittedHere().filter(known => known !== id);
  ids.push(id);
  try {
    localStorage.setItem(MINE_KEY, JSON.stringify(ids.slice(-MAX_MINE)));
  } catch {
    // storage full or off: notifications for "mine" then miss this job, nothing else breaks
  }
}

const STATE_WORDS: Record<string, string> = {
  SUCCEEDED: 'succeeded', FAILED: 'failed', CANCELLED: 'was cancelled', TIMED_OUT: 'timed out'
};

export interface NotifierOptions {
  api: ComputeApi;
  stream: EventStream;
  openJob: (id: string) => void;
  loadInNotebook: (job: Job) => void;
}

export class JobNotifier {
  scope: NotifyScope = 'all';
  browserNotifications = true;
  private readonly _told = new Set<string>();
  /** When the stream went down (ms since the epoch), while it is down. */
  private _lostAt: number | null = null;

  constructor(private readonly options: NotifierOptions) {
    options.stream.event.connect(this._onEvent, this);
    options.stream.statusChanged.connect(this._onStatus, this);
  }

  private _onEvent(_: EventStream, event: ComputeEvent): void {
    this._consider(endedNow(event, this._told));
  }

  private _consider(job: Job | null): void {
    if (!job || this.scope === 'none') return;
    if (this.scope === 'mine' && !submittedHere().includes(job.id)) return;
    this._told.add(job.id);
    this.announce(job);
  }

  /** Jobs that ended while the stream was down are announced once it is back. */
  private _onStatus(stream: EventStream, status: StreamStatus): void {
    if (status === 'disconnected') {
      this._lostAt ??= Date.now();
    } else if (status === 'connected' && this._lostAt !== null) {
      const since = this._lostAt - 5000; // the server's clock and this one may differ a little
      this._lostAt = null;
      this.options.api.jobs({ state: ['SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT'], sort: '-updated', limit: 50 }).then(
        page => page.jobs
          .filter(job => isTerminal(job.state) && Date.parse(job.finished ?? job.updated) >= since && !this._told.has(job.id))
          .reverse()
          .forEach(job => this._consider(job)),
        error => console.warn('jupyter-compute: jobs that ended while offline could not be read', error)
      );
    }
  }

  announce(job: Job): void {
    const words = `${job.name || job.id} ${STATE_WORDS[job.state] ?? job.state} (${job.backend})`;
    const message = job.message && job.state !== 'SUCCEEDED' ? `${words}: ${job.message}` : words;
    const actions: Notification.IAction[] = [
      { label: 'Open', caption: 'Open the job page', callback: () => this.options.openJob(job.id) }
    ];
    if (job.state === 'SUCCEEDED') {
      actions.push({ label: 'Load in notebook', caption: 'Insert code that loads its result', callback: () => this.options.loadInNotebook(job) });
    }
    const show = job.state === 'SUCCEEDED' ? Notification.success : job.state === 'FAILED' || job.state === 'TIMED_OUT' ? Notification.error : Notification.warning;
    show(message.length > 300 ? `${message.slice(0, 297)}…` : message, { autoClose: job.state === 'SUCCEEDED' ? 8000 : false, actions });
    this._browserNotification(job, words);
  }

  private _browserNotification(job: Job, words: string): void {
    if (!this.browserNotifications || document.visibilityState !== 'hidden') return;
    if (typeof window.Notification === 'undefined' || window.Notification.permission !== 'granted') return;
    const note = new window.Notification('Compute job ended', { body: words, tag: `jupyter-compute-${job.id}` });
    note.onclick = () => {
      window.focus();
      this.options.openJob(job.id);
      note.close();
    };
  }
}
