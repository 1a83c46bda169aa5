/** The Compute sidebar: Jobs, Clusters and Environments, with a "New job" button. */

import { LabIcon } from '@jupyterlab/ui-components';
import { Panel, Widget } from '@lumino/widgets';

import { ComputeApi } from './api';
import { ClustersView, EnvironmentsView } from './capacity';
import { h } from './dom';
import { EventStream } from './events';
import { JobListView } from './joblist';

const COMPUTE_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M4 4h16v6H4zm2 2v2h2V6zm4 0v2h8V6zM4 14h16v6H4zm2 2v2h2v-2zm4 0v2h8v-2z"/>
  </g>
</svg>`;

export const computeIcon = new LabIcon({ name: 'jupyter-compute:compute', svgstr: COMPUTE_SVG });

type TabName = 'jobs' | 'clusters' | 'environments';

export interface SidebarOptions {
  api: ComputeApi;
  stream: EventStream;
  openJob: (id: string) => void;
  newJob: () => void;
}

export class ComputeSidebar extends Panel {
  readonly jobs: JobListView;
  readonly clusters: ClustersView;
  readonly environments: EnvironmentsView;
  private readonly _tabs = new Map<TabName, HTMLButtonElement>();
  private readonly _loaded = new Set<TabName>();

  constructor(options: SidebarOptions) {
    super();
    this.id = 'jp-Compute-sidebar';
    this.addClass('jp-Compute-sidebar');
    this.title.icon = computeIcon;
    this.title.caption = 'Compute jobs';
    const newJob = h('button', { class: 'jp-Button jp-mod-styled jp-mod-accept jp-Compute-newJob', title: 'Submit a new compute job' }, '+ New job');
    newJob.addEventListener('click', () => options.newJob());
    const refresh = h('button', { class: 'jp-Button jp-mod-minimal jp-Compute-refresh', title: 'Read everything again', 'aria-label': 'Refresh' }, '⟳');
    refresh.addEventListener('click', () => this.refresh());
    const tabList = h('div', { class: 'jp-Compute-tabs', role: 'tablist', 'aria-label': 'Compute views' });
    for (const [name, label] of [['jobs', 'Jobs'], ['clusters', 'Clusters'], ['environments', 'Environments']] as [TabName, string][]) {
      const tab = h('button', {
        class: 'jp-Compute-tab', role: 'tab', id: `jp-Compute-tab-${name}`, 'data-tab': name, 'aria-controls': `jp-Compute-view-${name}`
      }, label);
      tab.addEventListener('click', () => this.showView(name));
      tab.addEventListener('keydown', event => this._onTabKey(event, name));
      this._tabs.set(name, tab);
      tabList.append(tab);
    }
    const header = new Widget({
      node: h('div', { class: 'jp-Compute-header' },
        h('h2', { class: 'jp-Compute-title' }, 'Compute'), h('div', { class: 'jp-Compute-headerActions' }, newJob, refresh), tabList)
    });
    this.jobs = new JobListView(options);
    this.clusters = new ClustersView(options.api);
    this.environments = new EnvironmentsView(options.api);
    for (const [name, view] of [['jobs', this.jobs], ['clusters', this.clusters], ['environments', this.environments]] as [TabName, Widget][]) {
      view.id = `jp-Compute-view-${name}`;
      view.node.setAttribute('role', 'tabpanel');
      view.node.setAttribute('aria-labelledby', `jp-Compute-tab-${name}`);
      view.addClass('jp-Compute-view');
    }
    this.addWidget(header);
    this.addWidget(this.jobs);
    this.addWidget(this.clusters);
    this.addWidget(this.environments);
    this.showView('jobs');
  }

  /** Show one of the three views (the clusters and environments are read the first time they show). */
  showView(name: TabName): void {
    for (const [tab, button] of this._tabs) {
      button.setAttribute('aria-selected', String(tab === name));
      button.tabIndex = tab === name ? 0 : -1;
    }
    this.jobs.setHidden(name !== 'jobs');
    this.clusters.setHidden(name !== 'clusters');
    this.environments.setHidden(name !== 'environments');
    if (!this._loaded.has(name)) {
      this._loaded.add(name);
      if (name === 'clusters') void this.clusters.refresh();
      if (name === 'environments') void this.environments.refresh();
    }
  }

  refresh(): void {
    void this.jobs.reload();
    void this.jobs.loadBackends();
    if (this._loaded.has('clusters')) void this.clusters.refresh();
    if (this._loaded.has('environments')) void this.environments.refresh();
  }

  private _onTabKey(event: KeyboardEvent, name: TabName): void {
    const names = [...this._tabs.keys()];
    const step = event.key === 'ArrowRight' ? 1 : event.key === 'ArrowLeft' ? -1 : 0;
    if (!step) return;
    const next = names[(names.indexOf(name) + step + names.length) % names.length];
    this.showView(next);
    this._tabs.get(next)!.focus();
    event.preventDefault();
  }
}
