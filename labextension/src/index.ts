/**
 * Plugin wiring: the nbgrad checks panel in the right sidebar.
 * (The report renderer is the separate MIME extension in `mime.ts`.)
 */

import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { INotebookTracker } from '@jupyterlab/notebook';

import { checksIcon } from './icon';
import { ChecksPanel } from './panel';

/** DOM id of the panel, also the `data-id` of its sidebar tab. */
const PANEL_ID = 'nbgrad-checks';

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'nbgrad:checks-panel',
  description: 'Lists the nbgrad checks of the active notebook in a sidebar',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    restorer: ILayoutRestorer | null
  ): void => {
    const panel = new ChecksPanel(tracker, app.shell);
    panel.id = PANEL_ID;
    panel.title.icon = checksIcon;
    panel.title.caption = 'nbgrad checks';
    app.shell.add(panel, 'right', { rank: 700 });
    restorer?.add(panel, PANEL_ID);
  }
};

export default plugin;
