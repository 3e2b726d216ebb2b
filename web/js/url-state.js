// The query lives in the address (?q=...), so a search can be shared and Back steps through searches.

/** The query in the current address, or "". */
export function readQuery() {
  return new URLSearchParams(window.location.search).get("q") ?? "";
}

// Still editing the same query: "do" -> "dog" -> "dogs" should be one Back step, not three.
function isRefinement(previous, next) {
  return previous !== "" && next !== "" && (previous.startsWith(next) || next.startsWith(previous));
}

/**
 * Records query q in the address. Typed (debounced) searches that refine the previous typed one
 * replace its history entry; everything else adds an entry. Does nothing if the address has q already.
 */
export function writeQuery(q, { typed }) {
  const previous = readQuery();
  if (previous === q) return;
  const url = new URL(window.location.href);
  if (q) url.searchParams.set("q", q);
  else url.searchParams.delete("q");
  const replace = typed && window.history.state?.typed === true && isRefinement(previous, q);
  const state = { q, typed };
  if (replace) window.history.replaceState(state, "", url);
  else window.history.pushState(state, "", url);
}
