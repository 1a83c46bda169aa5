/** The live stream of job changes (``GET events``), reconnecting with backoff. */

import { ISignal, Signal } from '@lumino/signaling';

import { ComputeApi } from './api';
import { backoffMs, SSEParser } from './sse';
import type { ComputeEvent } from './types';

export type StreamStatus = 'connecting' | 'connected' | 'disconnected';

/**
 * One connection per JupyterLab window, shared by the sidebar, the job pages and the notifier.
 * ``connected`` fires on every (re)connection: a listener re-reads what it may have missed.
 */
export class EventStream {
  private readonly _event = new Signal<this, ComputeEvent>(this);
  private readonly _connected = new Signal<this, void>(this);
  private readonly _statusChanged = new Signal<this, StreamStatus>(this);
  private _status: StreamStatus = 'disconnected';
  private _abort: AbortController | null = null;
  private _stopped = true;
  private _timer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly api: ComputeApi) {}

  get event(): ISignal<this, ComputeEvent> {
    return this._event;
  }

  get connected(): ISignal<this, void> {
    return this._connected;
  }

  get statusChanged(): ISignal<this, StreamStatus> {
    return this._statusChanged;
  }

  get status(): StreamStatus {
    return this._status;
  }

  start(): void {
    if (!this._stopped) return;
    this._stopped = false;
    void this._run();
  }

  stop(): void {
    this._stopped = true;
    this._abort?.abort();
    if (this._timer) clearTimeout(this._timer);
    this._setStatus('disconnected');
  }

  private _setStatus(status: StreamStatus): void {
    if (status !== this._status) {
      this._status = status;
      this._statusChanged.emit(status);
    }
  }

  private async _run(): Promise<void> {
    let attempt = 0;
    while (!this._stopped) {
      this._setStatus('connecting');
      this._abort = new AbortController();
      try {
        const response = await this.api.fetch(this.api.url('events'), {
          signal: this._abort.signal,
          headers: { Accept: 'text/event-stream' }
        });
        const reader = response.body!.getReader();
        const decoder = new TextDecoder();
        const parser = new SSEParser();
        this._setStatus('connected');
        attempt = 0;
        this._connected.emit();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const message of parser.push(decoder.decode(value, { stream: true }))) {
            this._dispatch(message.event, message.data);
          }
        }
      } catch (error) {
        if (this._stopped) return;
        console.warn('jupyter-compute: the event stream broke; reconnecting', error);
      }
      if (this._stopped) return;
      this._setStatus('disconnected');
      await new Promise<void>(resolve => (this._timer = setTimeout(resolve, backoffMs(attempt++))));
    }
  }

  private _dispatch(kind: string, data: string): void {
    if (kind !== 'job' && kind !== 'job_deleted') return;
    try {
      this._event.emit({ event: kind, data: JSON.parse(data) } as ComputeEvent);
    } catch (error) {
      console.warn('jupyter-compute: an event could not be read', error);
    }
  }
}
