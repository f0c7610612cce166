/**
 * The sidebar icon: a tick over a small gradient curve, drawn inline so the
 * extension ships no image files.  `jp-icon3` lets JupyterLab recolour it
 * with the theme.
 */

import { LabIcon } from '@jupyterlab/ui-components';

const SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="none" stroke="#616161" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">
    <path d="M3 19c4 0 5-12 9-12s5 12 9 12"/>
    <path d="M7 5l2 2 4-4"/>
  </g>
</svg>`;

export const checksIcon = new LabIcon({ name: 'nbgrad:checks', svgstr: SVG });
