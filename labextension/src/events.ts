/** The live stream of job changes (``GET events``), reconnecting with backoff. */

import { ISignal, Signal } from '@lumino/signaling';

import { ComputeApi } from './api';
import { backoffMs, SSEParser } from './sse';
import type { ComputeEvent } from './types';

/** Longer than the server's keepalive interval (15 s), with room for a busy machine. */
const SILENCE_MS = 45_000;

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
  private _started = false;

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
    if (this._started) return;
    this._started = true;
    void this._run();
  }

  private _setStatus(status: StreamStatus): void {
    if (status !== this._status) {
      this._status = status;
      this._statusChanged.emit(status);
    }
  }

  private async _run(): Promise<void> {
    let attempt = 0;
    for (;;) {
      this._setStatus('connecting');
      try {
        const response = await this.api.fetch(this.api.url('events'), {
          headers: { Accept: 'text/event-stream' }
        });
        const reader = response.body!.getReader();
        const decoder = new TextDecoder();
        const parser = new SSEParser();
        this._setStatus('connected');
        attempt = 0;
        this._connected.emit();
        // The server says something at least every 15 s: a longer silence is a connection gone dead.
        let idle = setTimeout(() => void reader.cancel(), SILENCE_MS);
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            clearTimeout(idle);
            idle = setTimeout(() => void reader.cancel(), SILENCE_MS);
            for (const message of parser.push(decoder.decode(value, { stream: true }))) {
              this._dispatch(message.event, message.data);
            }
          }
        } finally {
          clearTimeout(idle);
        }
      } catch (error) {
        console.warn('jupyter-compute: the event stream broke; reconnecting', error);
      }
      this._setStatus('disconnected');
      await new Promise<void>(resolve => setTimeout(resolve, backoffMs(attempt++)));
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
