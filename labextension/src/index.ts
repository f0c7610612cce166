/**
 * Plugin wiring: the nbgrad checks panel in the right sidebar, the links
 * from reported lines to the cells that define them, and in each notebook the
 * report instead of a `--widget` view whose model is gone (`widgetview.ts`).
 * (The report renderer is the separate MIME extension in `mime.ts`.)
 */

import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { INotebookTracker } from '@jupyterlab/notebook';

import { markUnresolved, SHOW_LINE_EVENT, ShowLineEvent } from './dom';
import { checksIcon } from './icon';
import { showLine } from './navigate';
import { ChecksPanel } from './panel';
import { fallBackToReports } from './widgetview';

/** DOM id of the panel, also the `data-id` of its sidebar tab. */
const PANEL_ID = 'nbgrad-checks';

/**
 * A line link was clicked, in a report output or in the panel: go to the
 * cell that defines the function, in the notebook the link belongs to.
 */
function onShowLine(app: JupyterFrontEnd, tracker: INotebookTracker, event: ShowLineEvent): void {
  const target = event.target as HTMLElement;
  const panel = tracker.find(notebook => notebook.node.contains(target)) ?? tracker.currentWidget;
  if (panel === null) {
    return;
  }
  // The check's own cell: the output's cell, or the panel row's.
  const checked =
    panel.content.widgets.find(cell => cell.node.contains(target))?.model.id ??
    target.closest<HTMLElement>('[data-cell-id]')?.dataset.cellId ??
    null;
  void showLine(app.shell, panel, event.detail, checked).then(
    shown => shown || markUnresolved(target, event.detail)
  );
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'nbgrad:checks-panel',
  description: 'Lists the nbgrad checks of the active notebook in a sidebar',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ILayoutRestorer, ILabShell],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    restorer: ILayoutRestorer | null,
    labShell: ILabShell | null
  ): void => {
    tracker.forEach(fallBackToReports);
    tracker.widgetAdded.connect((_, notebook) => fallBackToReports(notebook));
    const panel = new ChecksPanel(tracker, app.shell);
    panel.id = PANEL_ID;
    panel.title.icon = checksIcon;
    panel.title.caption = 'nbgrad checks';
    app.shell.add(panel, 'right', { rank: 700 });
    restorer?.add(panel, PANEL_ID);
    if (labShell === null) {
      // Notebook 7 keeps its right sidebar closed and lists the panel only
      // under View: open it the first time there is a check to show.
      // (JupyterLab shows the panel's tab and remembers its layout.)
      panel.firstChecks.connect(() => app.shell.activateById(PANEL_ID));
    }
    document.addEventListener(SHOW_LINE_EVENT, event =>
      onShowLine(app, tracker, event as ShowLineEvent)
    );
  }
};

export default plugin;
