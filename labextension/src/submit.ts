/** "New compute job": a dialog rendered from the backend's declared form, checked at each field. */

import { Dialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { ComputeApi, ComputeApiError } from './api';
import { formatNumber, h } from './dom';
import { checkValues, formatMapping, parseMapping, parseNumber, parseTags, specFromValues } from './forms';
import type { Backend, Cluster, Environment, Form, FormField, Job } from './types';

type Control = HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement;

function newKey(): string {
  return typeof crypto !== 'undefined' && 'randomUUID' in crypto
    ? crypto.randomUUID()
    : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

const LAST_BACKEND_KEY = 'jupyter-compute:last-backend';

function lastBackend(): string | null {
  try {
    return localStorage.getItem(LAST_BACKEND_KEY);
  } catch {
    return null;
  }
}

function rememberBackend(name: string): void {
  try {
    localStorage.setItem(LAST_BACKEND_KEY, name);
  } catch {
    // no storage: the dialog opens on 'local' next time
  }
}

function environmentLabel(e: Environment): string {
  const parts = [e.cpus !== null ? `${formatNumber(e.cpus, 1)} CPU` : '', e.gpus ? `${e.gpus} GPU` : '',
    e.memory_gb !== null ? `${formatNumber(e.memory_gb, 1)} GB` : ''].filter(Boolean);
  return parts.length ? `${e.name || e.id} — ${parts.join(', ')}` : e.name || e.id;
}

function clusterLabel(c: Cluster): string {
  return c.status ? `${c.name || c.id} (${c.status})` : c.name || c.id;
}

/** The body of the dialog: backend picker, then the backend's fields. */
export class SubmitForm extends Widget {
  private _form: Form | null = null;
  private _controls = new Map<string, { field: FormField; control: Control; error: HTMLElement }>();
  private _idempotencyKey = newKey();
  /** The backend whose form is being read, and which read is the latest (only it may draw). */
  private _loading: string | null = null;
  private _loads = 0;
  private readonly _backendSelect = h('select', { class: 'jp-mod-styled', id: 'jp-Compute-submit-backend', name: 'backend' });
  private readonly _fields = h('div', { class: 'jp-Compute-formFields' });
  private readonly _error = h('div', { class: 'jp-Compute-formError', role: 'alert' });
  readonly ready: Promise<void>;

  constructor(private readonly api: ComputeApi, private readonly backends: Backend[], backend?: string) {
    super();
    this.addClass('jp-Compute-submitForm');
    const usable = backends.filter(b => b.available);
    const chosen = [backend, lastBackend(), 'local'].find(name => usable.some(b => b.name === name)) ?? usable[0]?.name;
    this._backendSelect.append(...usable.map(b => h('option', { value: b.name, selected: b.name === chosen }, `${b.name} (${b.kind})`)));
    this._backendSelect.addEventListener('change', () => {
      // the form shown, or being read, is this backend's already: reading it again would redraw it and
      // drop what was typed meanwhile
      if (this.backend === (this._loading ?? this._fields.dataset.backend)) return;
      rememberBackend(this.backend);
      void this._loadForm();
    });
    this.node.append(
      h('div', { class: 'jp-Compute-field' }, h('label', { for: 'jp-Compute-submit-backend' }, 'Backend'), this._backendSelect),
      this._fields,
      this._error
    );
    this.ready = usable.length ? this._loadForm() : Promise.resolve(this._showError('No backend is available.'));
  }

  get backend(): string {
    return this._backendSelect.value;
  }

  private async _loadForm(): Promise<void> {
    const backend = this.backend;
    const load = ++this._loads;
    this._loading = backend;
    // Nothing of the previous backend's form may be sent to this one: no form until this one is drawn.
    this._form = null;
    this._controls.clear();
    delete this._fields.dataset.backend;
    this._fields.replaceChildren(h('div', { class: 'jp-Compute-empty' }, 'Reading the form…'));
    this._showError('');
    try {
      const form = await this.api.form(backend);
      if (load !== this._loads) return;
      const caps = this.backends.find(b => b.name === backend)?.capabilities;
      const [environments, clusters] = await Promise.all([
        caps?.has_environments && form.fields.some(f => f.name === 'environment') ? this.api.environments(backend).catch(() => null) : null,
        caps?.has_clusters && form.fields.some(f => f.name === 'cluster') ? this.api.clusters(backend).catch(() => null) : null
      ]);
      if (load !== this._loads) return;
      this._fields.replaceChildren(...form.fields.map(field => this._renderField(field, environments, clusters)));
      this._fields.dataset.backend = backend; // whose form is shown (a test waits on it)
      this._form = form;
    } catch (error) {
      if (load !== this._loads) return;
      this._fields.replaceChildren();
      this._showError(`The form of ${backend} could not be read: ${(error as Error).message}`);
    } finally {
      if (load === this._loads) this._loading = null;
    }
  }

  private _renderField(field: FormField, environments: Environment[] | null, clusters: Cluster[] | null): HTMLElement {
    const id = `jp-Compute-field-${field.name.replace(/[^\w-]/g, '-')}`;
    let control: Control;
    let suggestions: HTMLDataListElement | null = null;
    const picks =
      field.name === 'environment' && environments?.length
        ? environments.map(e => [e.id, environmentLabel(e)])
        : field.name === 'cluster' && clusters?.length
          ? clusters.map(c => [c.id, clusterLabel(c)])
          : null;
    if (field.type === 'choice' || picks) {
      const options: [string, string][] = picks
        ? (picks as [string, string][])
        : (field.choices ?? []).map(c => [String(c), String(c)]);
      for (const choice of [...(field.choices ?? []), field.default]) {
        if (choice === null || choice === undefined) continue;
        if (!options.some(([value]) => value === String(choice))) options.push([String(choice), String(choice)]);
      }
      control = h('select', { class: 'jp-mod-styled' },
        !field.required || field.default === null ? h('option', { value: '' }, '—') : null,
        options.map(([value, label]) => h('option', { value, selected: String(field.default ?? '') === value }, label)));
    } else if (field.type === 'open_choice') {
      // what the platform listed, offered as suggestions; any other text is sent as typed
      const list = `${id}-choices`;
      const labels = field.choice_labels ?? [];
      control = h('input', { class: 'jp-mod-styled', type: 'text', list, placeholder: 'choose or type' });
      control.value = field.default === null || field.default === undefined ? '' : String(field.default);
      suggestions = h('datalist', { id: list },
        (field.choices ?? []).map((c, i) => h('option', { value: String(c) }, labels[i] ?? String(c))));
    } else if (field.type === 'boolean') {
      control = h('input', { type: 'checkbox', checked: field.default === true });
    } else if (['text', 'code', 'mapping'].includes(field.type)) {
      control = h('textarea', {
        class: `jp-mod-styled${field.type === 'code' ? ' jp-Compute-code' : ''}`,
        rows: field.type === 'mapping' ? 3 : 4,
        placeholder: field.type === 'mapping' ? 'name=value, one per line' : field.type === 'code' ? "print('hello')" : ''
      });
      control.value = field.default === null || field.default === undefined ? ''
        : field.type === 'mapping' ? formatMapping(field.default) : String(field.default);
    } else {
      const numeric = field.type === 'integer' || field.type === 'number';
      const hint = numeric
        ? [field.type === 'integer' ? 'whole number' : 'number', field.min !== null ? `≥ ${field.min}` : '', field.max !== null ? `≤ ${field.max}` : ''].filter(Boolean).join(', ')
        : field.type === 'tags' ? 'comma, separated, words' : field.type === 'path' ? 'path on the server' : '';
      control = h('input', { class: 'jp-mod-styled', type: 'text', inputmode: numeric ? 'decimal' : undefined, placeholder: hint });
      control.value = field.default === null || field.default === undefined ? ''
        : Array.isArray(field.default) ? field.default.map(t => (typeof t === 'string' ? t : JSON.stringify(t))).join(', ')
          : String(field.default);
    }
    control.id = id;
    control.name = field.name;
    if (field.required) control.setAttribute('aria-required', 'true');
    const error = h('div', { class: 'jp-Compute-fieldError', id: `${id}-error`, role: 'alert' });
    control.setAttribute('aria-describedby', `${id}-error ${id}-help`);
    control.addEventListener('input', () => this._setFieldError(field.name, ''));
    control.addEventListener('change', () => this._setFieldError(field.name, ''));
    this._controls.set(field.name, { field, control, error });
    const label = h('label', { for: id }, field.label, field.required ? h('span', { class: 'jp-Compute-required', 'aria-hidden': 'true' }, ' *') : null);
    return h('div', { class: 'jp-Compute-field', 'data-field': field.name },
      label, control, suggestions, field.help ? h('div', { class: 'jp-Compute-help', id: `${id}-help` }, field.help) : null, error);
  }

  /** The values typed in, read the way the server reads them. */
  values(): Record<string, unknown> {
    const values: Record<string, unknown> = {};
    for (const [name, { field, control }] of this._controls) {
      const text = control.value;
      if (field.type === 'boolean') values[name] = (control as HTMLInputElement).checked;
      else if (field.type === 'integer' || field.type === 'number') values[name] = parseNumber(text);
      else if (field.type === 'mapping') values[name] = parseMapping(text);
      else if (field.type === 'tags') values[name] = parseTags(text);
      else if (field.type === 'choice') {
        const choice = field.choices?.find(c => String(c) === text);
        values[name] = text === '' ? undefined : choice ?? text;
      } else values[name] = text.trim() ? text : undefined;
    }
    return values;
  }

  /** Check, then submit; false (with the reasons shown at the fields) when anything is refused. */
  async submit(): Promise<Job | null> {
    const form = this._form;
    if (!form) return null;
    const values = this.values();
    const problems = checkValues(form, values);
    for (const name of this._controls.keys()) this._setFieldError(name, problems[name] ?? '');
    if (Object.keys(problems).length) {
      this._showError('Please correct the marked fields.');
      this._controls.get(Object.keys(problems)[0])?.control.focus();
      return null;
    }
    this._showError('');
    try {
      const job = await this.api.submit({ ...specFromValues(form, values), backend: this.backend }, this._idempotencyKey);
      this._idempotencyKey = newKey();
      return job;
    } catch (error) {
      // Only an answer that never came may mean the server took the job: a retry then reuses the key
      // (and gets that job back); after any answer the next try is a new submission.
      if (!(error instanceof ComputeApiError && error.status === 0)) this._idempotencyKey = newKey();
      const field = error instanceof ComputeApiError ? error.field : undefined;
      if (field && this._controls.has(field)) {
        this._setFieldError(field, (error as Error).message);
        this._controls.get(field)!.control.focus();
        this._showError('The server refused a field.');
      } else {
        this._showError((error as Error).message);
      }
      return null;
    }
  }

  private _setFieldError(name: string, message: string): void {
    const entry = this._controls.get(name);
    if (!entry) return;
    entry.error.textContent = message;
    entry.control.setAttribute('aria-invalid', message ? 'true' : 'false');
    entry.control.parentElement?.classList.toggle('jp-mod-invalid', Boolean(message));
  }

  private _showError(message: string): void {
    this._error.textContent = message;
  }
}

/** A dialog that stays open until the server took the job (or the user gave up). */
class SubmitDialog extends Dialog<Job | null> {
  private _busy = false;

  constructor(private readonly form: SubmitForm) {
    super({
      title: 'New compute job',
      body: form,
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Submit' })],
      focusNodeSelector: 'select, input, textarea'
    });
    this.addClass('jp-Compute-submitDialog');
  }

  resolve(index?: number): void {
    const accept = index === undefined || index === 1;
    if (!accept) {
      super.resolve(index);
      return;
    }
    if (this._busy) return;
    this._busy = true;
    this.node.classList.add('jp-mod-busy');
    void this.form.submit().then(job => {
      this._busy = false;
      this.node.classList.remove('jp-mod-busy');
      if (job) {
        this.job = job;
        super.resolve(1);
      }
    });
  }

  /** The job the server took, once it did. */
  job: Job | null = null;
}

/** Open the dialog; the job the server took, or null when cancelled. */
export async function showSubmitDialog(api: ComputeApi, backend?: string): Promise<Job | null> {
  const backends = await api.backends();
  const form = new SubmitForm(api, backends, backend);
  const dialog = new SubmitDialog(form);
  const result = await dialog.launch();
  return result.button.accept ? dialog.job : null;
}
