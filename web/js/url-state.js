// The query lives in the address (?q=...), so a search can be shared and Back steps through searches.

import { filterParams, filtersFromParams, sameFilters } from "./filters.js";

/** The filters and sort in the current address (filters.js). */
export function readFilters() {
  return filtersFromParams(new URLSearchParams(window.location.search));
}

/** Records the filters in the address, as a new history entry, keeping q. */
export function writeFilters(filters) {
  if (sameFilters(readFilters(), filters)) return;
  const url = new URL(window.location.href);
  for (const name of ["taken_after", "taken_before", "folder", "tag", "sort"]) url.searchParams.delete(name);
  for (const [name, value] of filterParams(filters)) url.searchParams.append(name, value);
  window.history.pushState({ q: readQuery(), typed: false }, "", url);
}

/** The query in the current address, or "". */
export function readQuery() {
  return new URLSearchParams(window.location.search).get("q") ?? "";
}

// Still editing the same query: "do" -> "dog" -> "dogs" should be one Back step, not three.
function isRefinement(previous, next) {
  return previous !== "" && next !== "" && (previous.startsWith(next) || next.startsWith(previous));
}

/** The id of the image whose similar images the address shows (?similar=<id>), or "". */
export function readSimilar() {
  return new URLSearchParams(window.location.search).get("similar") ?? "";
}

/** Records the similar view of image id in the address (a new history entry; q stays, for the way back). */
export function writeSimilar(id) {
  if (readSimilar() === id) return;
  const url = new URL(window.location.href);
  url.searchParams.set("similar", id);
  window.history.pushState({ q: readQuery(), similar: id, typed: false }, "", url);
}

/**
 * Records query q in the address. Typed (debounced) searches that refine the previous typed one
 * replace its history entry; everything else adds an entry (and leaves a similar view). Does nothing if
 * the address has q already and no similar view.
 */
export function writeQuery(q, { typed }) {
  const previous = readQuery();
  if (previous === q && !readSimilar()) return;
  const url = new URL(window.location.href);
  url.searchParams.delete("similar"); // a text search leaves the similar view
  if (q) url.searchParams.set("q", q);
  else url.searchParams.delete("q");
  const replace = typed && window.history.state?.typed === true && isRefinement(previous, q);
  const state = { q, typed };
  if (replace) window.history.replaceState(state, "", url);
  else window.history.pushState(state, "", url);
}
