/**
 * The few DOM pieces the panel and the report renderer share: elements built
 * with `textContent` only (report strings are user-supplied), the "copy
 * failing indices" button and the link to a reported source line.
 */

import { formatLocation, joints, SourceLocation } from './report';

export type Child = string | Node;

export function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  node.append(...children);
  return node;
}

/** `text` with a line-break opportunity (`<wbr>`) at each of its joints (`joints`). */
export function breakable(text: string): Child[] {
  return joints(text).flatMap((piece, i) =>
    i === 0 ? [piece] : [document.createElement('wbr'), piece]
  );
}

/**
 * Event a line link sends up the DOM; the panel plugin, which knows the
 * notebooks, answers it by scrolling to the cell that defines the function.
 */
export const SHOW_LINE_EVENT = 'nbgrad-show-line';

export type ShowLineEvent = CustomEvent<SourceLocation>;

/**
 * "line 27 of rnn_loss_grads" as a link to the cell that defines it; a line
 * of a module file (not of the notebook) stays plain text, its path in the tooltip.
 */
export function lineLink(location: SourceLocation): HTMLElement {
  if (location.file !== null) {
    const text = element('span', 'nbgrad-LineText', formatLocation(location));
    text.title = location.file;
    return text;
  }
  const link = element('button', 'nbgrad-LineLink', formatLocation(location));
  link.type = 'button';
  link.title = `Show ${formatLocation(location)} in the notebook`;
  link.addEventListener('click', event => {
    event.stopPropagation();
    link.dispatchEvent(new CustomEvent(SHOW_LINE_EVENT, { bubbles: true, detail: location }));
  });
  return link;
}

/** After a click: no cell of the notebook defines the function (it was imported). */
export function markUnresolved(link: HTMLElement, location: SourceLocation): void {
  link.classList.add('nbgrad-mod-unresolved');
  link.title = `No cell of this notebook defines ${location.name ?? 'this line'}`;
}

const COPY_LABEL = 'copy failing indices';

/** A button that copies `literal` (the failing indices as Python) to the clipboard. */
export function copyIndicesButton(literal: string): HTMLElement {
  const button = element('button', 'nbgrad-CopyIndices jp-Button', COPY_LABEL);
  button.type = 'button';
  button.title = `Copy as Python: ${literal}`;
  button.dataset.indices = literal;
  let reset = 0;
  button.addEventListener('click', event => {
    event.stopPropagation();
    const done = (text: string) => {
      button.textContent = text;
      window.clearTimeout(reset);
      reset = window.setTimeout(() => (button.textContent = COPY_LABEL), 2000);
    };
    // No clipboard API outside a secure context: say so, the tooltip holds the text.
    const written = navigator.clipboard?.writeText(literal) ?? Promise.reject();
    written.then(
      () => done('copied'),
      () => done('copy failed: see the tooltip')
    );
  });
  return button;
}
