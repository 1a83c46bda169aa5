/** jupyter-compute in JupyterLab: the Compute sidebar, job pages, the submit dialog and notifications. */

import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, Notification } from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { ComputeApi } from './api';
import { EventStream } from './events';
import { JobPage, tableResult } from './jobpage';
import { JobNotifier, NotifyScope, rememberSubmitted } from './notify';
import { computeIcon, ComputeSidebar } from './sidebar';
import { showSubmitDialog } from './submit';
import type { Job } from './types';

const PLUGIN_ID = 'jupyter-compute:plugin';

export namespace CommandIDs {
  export const showJobs = 'compute:show-jobs';
  export const newJob = 'compute:new-job';
  export const openJob = 'compute:open-job';
}

/** The code a notebook runs to load a job's result (``name`` may be null: its only table). */
export function loadCode(jobId: string, name: string | null): string {
  const args = name ? `${JSON.stringify(jobId)}).to_pandas(${JSON.stringify(name)})` : `${JSON.stringify(jobId)}).to_pandas()`;
  return `from jupyter_compute import Client\n\ndf = Client().job(${args}\ndf`;
}

async function insertCode(app: JupyterFrontEnd, notebooks: INotebookTracker | null, code: string): Promise<void> {
  let panel: NotebookPanel | null = notebooks?.currentWidget ?? null;
  if (!panel) {
    panel = (await app.commands.execute('notebook:create-new', { kernelName: 'python3' })) as NotebookPanel;
  }
  await panel.context.ready;
  app.shell.activateById(panel.id);
  const notebook = panel.content;
  const active = notebook.activeCell;
  const reuse = active && active.model.type === 'code' && !active.model.sharedModel.getSource().trim();
  if (!reuse) NotebookActions.insertBelow(notebook);
  const cell = notebook.activeCell!;
  cell.model.sharedModel.setSource(code);
  notebook.mode = 'command';
  notebook.activate();
  notebook.scrollToItem(notebook.activeCellIndex).catch(() => undefined);
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'The Compute sidebar, job pages, a submit dialog and completion notifications.',
  autoStart: true,
  optional: [ILayoutRestorer, ICommandPalette, ILauncher, INotebookTracker, ISettingRegistry],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    launcher: ILauncher | null,
    notebooks: INotebookTracker | null,
    settings: ISettingRegistry | null
  ) => {
    const api = new ComputeApi(app.serviceManager.serverSettings);
    const stream = new EventStream(api);
    const pages = new Map<string, JobPage>();
    const { commands, shell } = app;

    const openInNotebook = async (job: Job, result: string | null) => {
      try {
        await insertCode(app, notebooks, loadCode(job.id, result));
      } catch (error) {
        Notification.error(`The code could not be inserted: ${(error as Error).message}`);
      }
    };

    commands.addCommand(CommandIDs.openJob, {
      label: 'Open Compute Job',
      execute: args => {
        const id = String(args.id ?? '');
        let page = pages.get(id);
        if (!page || page.isDisposed) {
          page = new JobPage({ api, stream, jobId: id, openInNotebook });
          pages.set(id, page);
          page.disposed.connect(() => pages.delete(id));
          shell.add(page, 'main');
        }
        shell.activateById(page.id);
      }
    });

    commands.addCommand(CommandIDs.newJob, {
      label: args => (args.isLauncher ? 'Compute Job' : 'New Compute Job'),
      caption: 'Submit a job to one of the compute backends',
      icon: computeIcon,
      execute: async args => {
        try {
          const job = await showSubmitDialog(api, (args.backend as string) || undefined);
          if (!job) return;
          rememberSubmitted(job.id);
          Notification.info(`Submitted “${job.name}” to ${job.backend}`, {
            autoClose: 5000,
            actions: [{ label: 'Open', callback: () => void commands.execute(CommandIDs.openJob, { id: job.id }) }]
          });
        } catch (error) {
          Notification.error(`The submit form could not be opened: ${(error as Error).message}`);
        }
      }
    });

    const sidebar = new ComputeSidebar({
      api,
      stream,
      openJob: id => void commands.execute(CommandIDs.openJob, { id }),
      newJob: () => void commands.execute(CommandIDs.newJob)
    });
    shell.add(sidebar, 'left', { rank: 850 });
    restorer?.add(sidebar, 'jupyter-compute-sidebar');

    commands.addCommand(CommandIDs.showJobs, {
      label: 'Show Compute Jobs',
      icon: computeIcon,
      execute: () => {
        sidebar.showView('jobs');
        shell.activateById(sidebar.id);
      }
    });

    palette?.addItem({ command: CommandIDs.newJob, category: 'Compute' });
    palette?.addItem({ command: CommandIDs.showJobs, category: 'Compute' });
    launcher?.add({ command: CommandIDs.newJob, category: 'Other', rank: 1, args: { isLauncher: true } });

    const notifier = new JobNotifier({
      api,
      stream,
      openJob: id => void commands.execute(CommandIDs.openJob, { id }),
      loadInNotebook: job => void openInNotebook(job, tableResult(job.results))
    });
    if (settings) {
      settings.load(PLUGIN_ID).then(
        loaded => {
          let asking = false;
          const apply = () => {
            notifier.scope = loaded.get('notify').composite as NotifyScope;
            notifier.browserNotifications = loaded.get('browserNotifications').composite as boolean;
            if (!asking && notifier.browserNotifications && notifier.scope !== 'none' && window.Notification?.permission === 'default') {
              // Asked once, on the first click anywhere: browsers allow the prompt only after a gesture.
              asking = true;
              document.addEventListener('click', () => void window.Notification.requestPermission().catch(() => undefined), { once: true });
            }
          };
          apply();
          loaded.changed.connect(apply);
        },
        error => console.warn('jupyter-compute: settings could not be read', error)
      );
    }

    stream.start();
  }
};

export default plugin;
