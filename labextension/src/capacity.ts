/** The Clusters and Environments parts of the sidebar: capacity bars and a sortable table. */

import { Widget } from '@lumino/widgets';

import { ComputeApi } from './api';
import { cellNumber, formatNumber, h } from './dom';
import { clusterHealth } from './health';
import type { Backend, Cluster, Environment } from './types';

/** One capacity bar: how much of ``total`` is free; nothing when the cluster has none of it. */
function bar(label: string, free: number | null, total: number | null, unit = ''): HTMLElement | null {
  if (total === null || total === undefined || total <= 0) return null;
  const available = free === null || free === undefined ? null : Math.max(0, Math.min(free, total));
  const used = available === null ? null : total - available;
  const percent = used === null ? 0 : Math.round((used / total) * 100);
  const text = available === null
    ? `${formatNumber(total, 1)}${unit} ${label}`
    : `${formatNumber(available, 1)} of ${formatNumber(total, 1)}${unit} ${label} free`;
  return h('div', { class: 'jp-Compute-capacity', 'data-resource': label },
    h('div', { class: 'jp-Compute-capacity-label' }, text),
    h('div', {
      class: 'jp-Compute-bar', role: 'meter', 'aria-label': `${label} in use`, 'aria-valuemin': 0,
      'aria-valuemax': 100, 'aria-valuenow': percent, 'aria-valuetext': text
    }, h('div', { class: `jp-Compute-bar-fill${percent >= 90 ? ' jp-mod-full' : ''}`, style: `width: ${percent}%` })));
}

export function clusterCard(cluster: Cluster): HTMLElement {
  const health = clusterHealth(cluster);
  return h('div', { class: `jp-Compute-cluster jp-Compute-health-${health}`, 'data-cluster': cluster.id, 'data-health': health },
    h('div', { class: 'jp-Compute-cluster-head' },
      h('span', { class: 'jp-Compute-dot', 'aria-hidden': 'true' }),
      h('span', { class: 'jp-Compute-cluster-name', title: cluster.id }, cluster.name || cluster.id),
      h('span', { class: 'jp-Compute-cluster-status', title: `status: ${cluster.status || 'unknown'} (${health})` }, cluster.status || 'unknown')),
    bar('nodes', cluster.nodes_available, cluster.nodes),
    bar('CPUs', cluster.cpus_allocatable, cluster.cpus),
    bar('memory', cluster.memory_gb_allocatable, cluster.memory_gb, ' GB'),
    bar(cluster.gpu_type || 'GPUs', cluster.gpus_allocatable, cluster.gpus));
}

abstract class BackendSections<T> extends Widget {
  protected readonly body = h('div', { class: 'jp-Compute-sections' });

  constructor(protected readonly api: ComputeApi, private readonly what: string) {
    super();
    this.node.append(this.body);
  }

  protected abstract wanted(backend: Backend): boolean;
  protected abstract read(backend: string): Promise<T[]>;
  protected abstract draw(items: { backend: string; items: T[] }[], errors: HTMLElement[]): void;

  async refresh(): Promise<void> {
    this.body.replaceChildren(h('div', { class: 'jp-Compute-empty' }, `Reading ${this.what}…`));
    let backends: Backend[];
    try {
      backends = (await this.api.backends()).filter(b => b.available && this.wanted(b));
    } catch (error) {
      this.body.replaceChildren(h('div', { class: 'jp-Compute-error' }, (error as Error).message));
      return;
    }
    const answers = await Promise.allSettled(backends.map(b => this.read(b.name)));
    const found: { backend: string; items: T[] }[] = [];
    const errors: HTMLElement[] = [];
    answers.forEach((answer, i) => {
      if (answer.status === 'fulfilled') found.push({ backend: backends[i].name, items: answer.value });
      else errors.push(h('div', { class: 'jp-Compute-error' }, `${backends[i].name}: ${(answer.reason as Error).message}`));
    });
    this.draw(found, errors);
  }
}

export class ClustersView extends BackendSections<Cluster> {
  constructor(api: ComputeApi) {
    super(api, 'clusters');
    this.addClass('jp-Compute-clusters');
  }

  protected wanted(backend: Backend): boolean {
    return backend.capabilities.has_clusters;
  }

  protected read(backend: string): Promise<Cluster[]> {
    return this.api.clusters(backend);
  }

  protected draw(found: { backend: string; items: Cluster[] }[], errors: HTMLElement[]): void {
    this.body.replaceChildren(
      ...errors,
      ...found.map(({ backend, items }) =>
        h('section', { class: 'jp-Compute-group', 'aria-label': `${backend} clusters` },
          h('h3', { class: 'jp-Compute-groupTitle' }, backend),
          items.length ? items.map(clusterCard) : h('div', { class: 'jp-Compute-empty' }, 'No clusters.')))
    );
  }
}

type EnvColumn = 'name' | 'backend' | 'cpus' | 'gpus' | 'memory_gb' | 'price';

const ENV_COLUMNS: [EnvColumn, string][] = [
  ['name', 'Name'], ['cpus', 'CPU'], ['gpus', 'GPU'], ['memory_gb', 'GB'], ['price', 'Price']
];

/** Environments in one table; a column header sorts by it (again: the other way). */
export class EnvironmentsView extends BackendSections<Environment> {
  private _rows: Environment[] = [];
  private _sort: EnvColumn = 'name';
  private _descending = false;

  constructor(api: ComputeApi) {
    super(api, 'environments');
    this.addClass('jp-Compute-environments');
  }

  protected wanted(backend: Backend): boolean {
    return backend.capabilities.has_environments;
  }

  protected read(backend: string): Promise<Environment[]> {
    return this.api.environments(backend);
  }

  protected draw(found: { backend: string; items: Environment[] }[], errors: HTMLElement[]): void {
    this._rows = found.flatMap(({ backend, items }) => items.map(e => ({ ...e, backend: e.backend || backend })));
    this._errors = errors;
    this._draw();
  }

  private _errors: HTMLElement[] = [];

  sortBy(column: EnvColumn): void {
    this._descending = this._sort === column ? !this._descending : column !== 'name' && column !== 'backend';
    this._sort = column;
    this._draw();
  }

  private _draw(): void {
    const key = this._sort;
    const sign = this._descending ? -1 : 1;
    const rows = [...this._rows].sort((a, b) => {
      const x = key === 'name' ? a.name || a.id : a[key];
      const y = key === 'name' ? b.name || b.id : b[key];
      if (x === y) return 0;
      if (x === null || x === undefined) return 1; // unknowns last, whichever the direction
      if (y === null || y === undefined) return -1;
      return (typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y))) * sign;
    });
    const head = h('tr', {}, ...ENV_COLUMNS.map(([column, label]) => {
      const title = column === 'memory_gb' ? 'Memory (GB)' : column === 'name' ? 'Name (and backend)' : label;
      const sorted = column === this._sort;
      const button = h('button', { class: 'jp-Compute-sort', 'data-column': column, title: `Sort by ${title}` }, label, sorted ? (this._descending ? ' ▼' : ' ▲') : '');
      button.addEventListener('click', () => this.sortBy(column));
      return h('th', { scope: 'col', 'aria-sort': sorted ? (this._descending ? 'descending' : 'ascending') : 'none' }, button);
    }));
    const body = rows.map(e =>
      h('tr', { 'data-environment': e.id, 'data-backend': e.backend },
        h('td', { title: e.description || e.id },
          h('div', { class: 'jp-Compute-envName' }, e.name || e.id),
          h('div', { class: 'jp-Compute-muted' }, [e.backend, e.gpu_type].filter(Boolean).join(' · '))),
        h('td', { class: 'jp-mod-number' }, cellNumber(e.cpus)),
        h('td', { class: 'jp-mod-number', title: e.gpu_type ? `${e.gpus ?? 0} × ${e.gpu_type}` : '' }, formatNumber(e.gpus)),
        h('td', { class: 'jp-mod-number' }, cellNumber(e.memory_gb)),
        h('td', { class: 'jp-mod-number', title: e.price === null ? '' : String(e.price) }, formatNumber(e.price, 2, false))));
    this.body.replaceChildren(
      ...this._errors,
      rows.length
        ? h('table', { class: 'jp-Compute-envTable', 'aria-label': 'Environments' }, h('thead', {}, head), h('tbody', {}, body))
        : h('div', { class: 'jp-Compute-empty' }, 'No environments.')
    );
  }
}
