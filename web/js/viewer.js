// The larger view of one result: a modal <dialog> (Escape, focus trapping and the backdrop come from
// the browser); focus goes back to the result that opened it.

import { similarButton } from "./similar.js";
import { captionNodes, formatScore, imageSource, picture, readTextLine, tagLine } from "./view.js";

/** onSimilar(result), when given, is what its "More like this" button does (after closing the view). */
export function createViewer(dialog, { onSimilar } = {}) {
  const imageBox = dialog.querySelector("#viewer-image");
  const captionBox = dialog.querySelector("#viewer-caption");
  const metaBox = dialog.querySelector("#viewer-meta");
  let opener = null;

  dialog.querySelector("#viewer-close").addEventListener("click", () => dialog.close());
  // A click on the backdrop lands on the <dialog> itself; clicks on its content land on children.
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close();
  });
  dialog.addEventListener("close", () => {
    imageBox.replaceChildren();
    if (opener?.isConnected) opener.focus();
    opener = null;
  });

  function meta(result, apiBase) {
    const parts = [];
    const score = formatScore(result.score);
    if (score) parts.push(document.createTextNode(`similarity ${score}`));
    if (result.name) parts.push(document.createTextNode(result.name));
    const src = imageSource(result.url, apiBase);
    if (src) {
      const link = document.createElement("a");
      link.href = src;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      link.textContent = "Open image";
      parts.push(link);
    }
    const nodes = [];
    parts.forEach((part, i) => {
      if (i > 0) nodes.push(document.createTextNode(" · "));
      nodes.push(part);
    });
    return nodes;
  }

  /** Shows result large; button is the element to focus again on close. */
  function open(result, query, apiBase, button) {
    opener = button;
    imageBox.replaceChildren(picture(imageSource(result.url, apiBase), result.caption, { lazy: false }));
    captionBox.replaceChildren(captionNodes(result.caption || "(no caption)", query));
    const tags = tagLine(result.tags, query);
    if (tags) captionBox.append(tags);
    const read = readTextLine(result.textInPicture, query);
    if (read) captionBox.append(read);
    metaBox.replaceChildren(...meta(result, apiBase));
    if (onSimilar) {
      const more = similarButton(result, () => {
        dialog.close();
        onSimilar(result);
      }, "viewer-similar");
      metaBox.append(document.createTextNode(" · "), more);
    }
    dialog.showModal();
  }

  return { open, close: () => dialog.close() };
}
