// "More like this": the button that asks for an image's similar images, and the bar above the results
// that says whose they are, with the way back to the text search.

import { imageSource, picture } from "./view.js";

/** A "More like this" button for result; activating it calls onSimilar(result). */
export function similarButton(result, onSimilar, className = "similar-button") {
  const button = document.createElement("button");
  button.type = "button";
  button.className = className;
  button.textContent = "More like this";
  const hint = document.createElement("span");
  hint.className = "visually-hidden";
  hint.textContent = `: images similar to ${result.caption || result.name}`;
  button.append(hint);
  button.addEventListener("click", () => onSimilar(result));
  return button;
}

/** How an image is named in the heading: its file name without folders, else its caption. */
export function similarLabel(source) {
  const name = typeof source?.name === "string" ? source.name.split("/").pop() : "";
  return name || source?.caption || source?.id || "";
}

/**
 * The bar (#similar-bar): heading "Similar to <name>", the source's thumbnail, and a back button that
 * calls onBack(). show(source) fills it from whatever is known of the source (at least its id).
 */
export function createSimilarBar(bar, onBack) {
  const heading = bar.querySelector("#similar-heading");
  const thumb = bar.querySelector("#similar-thumb");
  bar.querySelector("#similar-back").addEventListener("click", () => onBack());

  function show(source, apiBase) {
    heading.textContent = `Similar to ${similarLabel(source)}`;
    const src = imageSource(source.url, apiBase);
    thumb.replaceChildren(...(src ? [picture(src, source.caption || source.name || "", { lazy: false })] : []));
    bar.hidden = false;
  }

  function hide() {
    bar.hidden = true;
    heading.textContent = "";
    thumb.replaceChildren();
  }

  return { show, hide };
}
