// The search page: wires the box, the address, the API client and the result views together.

import { MAX_K, MAX_QUERY_CHARS, SearchError, cleanQuery, queryLength, search, similar } from "./api.js";
import { createSimilarBar, similarButton, similarLabel } from "./similar.js";
import { createFilterBar, filterParams, sameFilters } from "./filters.js";
import { readFilters, readQuery, readSimilar, writeFilters, writeQuery, writeSimilar } from "./url-state.js";
import { cleanResult, resultCard } from "./view.js";
import { createViewer } from "./viewer.js";
import { searchPicture } from "./api.js";
import { createPictureQuery } from "./picture.js";

const PAGE_SIZE = 20;
const DEBOUNCE_MS = 300;
const ECHO_CHARS = 120;
const IDLE_MESSAGE = "Type a few words about the picture you want: what is in it, where, doing what.";

const config = readConfig(window.SEARCH_CONFIG);
const $ = (id) => document.getElementById(id);
const form = $("search-form");
const input = $("q");
const hint = $("query-hint");
const status = $("status");
const errorBox = $("error");
const errorMessage = $("error-message");
const retryButton = $("retry");
const list = $("results");
const moreButton = $("more");
const viewer = createViewer($("viewer"), { onSimilar: showSimilar });
const similarBar = createSimilarBar($("similar-bar"), backToSearch);
const filterBar = createFilterBar($("filters"), onFiltersChanged);
const pictureQuery = createPictureQuery(form, $("picture-query"), {
  onPicture: searchByPicture,
  onRefused: (message) => showError(new SearchError("http", message, 400), false),
  onClear: clearPicture,
});
// The picture (a File) the list shows results for, or null: the list is a text search's.
let picture = null;

// What the page shows (or is fetching): the query, how many results were asked for, and whether it arrived.
let shown = { q: "", k: 0, ok: false };
let lastAttempt = null;
let inFlight = null;
let debounceTimer = 0;
// The image whose similar images the list shows ({id} at least), or null: the list is a text search's.
let similarTo = null;

function readConfig(raw) {
  const apiBase = typeof raw?.apiBase === "string" ? raw.apiBase.trim() : "";
  const timeoutMs = Number.isFinite(raw?.timeoutMs) && raw.timeoutMs > 0 ? raw.timeoutMs : 10000;
  return { apiBase, timeoutMs };
}

function setStatus(state, text) {
  status.dataset.state = state;
  status.textContent = text;
}

function hideError() {
  errorBox.hidden = true;
  errorMessage.textContent = "";
}

/** Shows the length hint; returns false (and explains) when q is over the server's limit. */
function checkLength(q) {
  const length = queryLength(q);
  const tooLong = length > MAX_QUERY_CHARS;
  input.setAttribute("aria-invalid", String(tooLong));
  hint.classList.toggle("query-hint-error", tooLong);
  if (tooLong) {
    hint.textContent =
      `Your description is ${length} characters long; the limit is ${MAX_QUERY_CHARS}. ` +
      "Shorten it to search.";
  } else if (length > MAX_QUERY_CHARS * 0.9) {
    hint.textContent = `${length} of ${MAX_QUERY_CHARS} characters`;
  } else {
    hint.textContent = "";
  }
  return !tooLong;
}

function showIdle() {
  inFlight?.abort();
  shown = { q: "", k: 0, ok: false };
  lastAttempt = null;
  hideError();
  list.replaceChildren();
  moreButton.hidden = true;
  document.title = "Image search";
  setStatus("idle", IDLE_MESSAGE);
}

function openResult(result, button) {
  viewer.open(result, shown.q, config.apiBase, button);
}

/** q shortened for messages and the title; the box above still holds all of it. */
function echo(q) {
  const chars = [...q];
  return chars.length > ECHO_CHARS ? `${chars.slice(0, ECHO_CHARS).join("")}…` : q;
}

function summary(q, count, timing) {
  if (count === 0 && !similarTo && filterParams(filterBar.get()).some(([name]) => name !== "sort")) {
    return `No images match “${echo(q)}” with these filters. Remove a filter or try other words.`;
  }
  if (count === 0) return `No images match “${echo(q)}”. Try fewer or different words.`;
  const total = typeof timing?.total === "number" ? ` · ${Math.round(timing.total)} ms` : "";
  const what = similarTo
    ? `similar to “${echo(similarLabel(similarTo))}”`
    : picture
      ? `for your picture, read as “${echo(q)}”`
      : `for “${echo(q)}”`;
  return `${count} ${count === 1 ? "result" : "results"} ${what}${total}`;
}

function render(q, k, data, append) {
  const results = data.results.map(cleanResult);
  if (similarTo && data.source) {
    similarTo = { ...cleanResult(data.source), id: similarTo.id };
    similarBar.show(similarTo, config.apiBase);
  }
  const words = similarTo || picture ? "" : q; // similar images and pictures share no query words to mark
  const cards = (items) =>
    items.map((result) => {
      const card = resultCard(result, words, config.apiBase, openResult);
      card.append(similarButton(result, showSimilar));
      return card;
    });
  if (append) {
    const seen = new Set([...list.children].map((item) => item.dataset.id));
    const fresh = cards(results.filter((result) => !seen.has(result.id)));
    list.append(...fresh);
    // Keyboard users carry on from the first new result rather than from the top of the page.
    fresh[0]?.querySelector("button").focus();
  } else {
    list.replaceChildren(...cards(results));
  }
  shown = { q, k, ok: true };
  const count = list.children.length;
  setStatus(count === 0 ? "empty" : "results", summary(q, count, data.timing_ms));
  moreButton.hidden = !(results.length >= k && k < MAX_K);
}

function showError(err, append) {
  if (!(err instanceof SearchError)) console.error(err);
  const message = err instanceof SearchError ? err.message : "Something unexpected went wrong. Please try again.";
  errorMessage.textContent = message;
  retryButton.hidden = err instanceof SearchError && !err.retryable;
  errorBox.hidden = false;
  if (!append) {
    // Results for an earlier query under a failed new one would mislead.
    list.replaceChildren();
    moreButton.hidden = true;
    setStatus("error", "");
  }
}

async function run(q, k, append) {
  inFlight?.abort();
  const controller = new AbortController();
  inFlight = controller;
  lastAttempt = { q, k, append };
  hideError();
  const subject = similarTo
    ? `images similar to “${echo(similarLabel(similarTo))}”`
    : picture && !q
      ? "images like your picture"
      : `“${echo(q)}”`;
  document.title = `${similarTo ? `Similar to ${echo(similarLabel(similarTo))}` : echo(q)} – Image search`;
  list.setAttribute("aria-busy", "true");
  if (append) {
    moreButton.disabled = true;
    moreButton.textContent = "Loading more…";
  } else {
    shown = { q, k, ok: false };
    moreButton.hidden = true;
    setStatus("loading", `Searching for ${subject}…`);
  }
  try {
    const signal = controller.signal;
    const data = similarTo
      ? await similar({ ...config, id: similarTo.id, k, signal })
      : picture
        ? await searchPicture({ ...config, file: picture, k, signal })
        : await search({ ...config, q, k, filters: filterBar.get(), signal });
    render(picture ? data.query : q, k, data, append); // a picture's query: its tags, as read
  } catch (err) {
    if (!controller.signal.aborted) showError(err, append);
  } finally {
    if (inFlight === controller) {
      inFlight = null;
      list.removeAttribute("aria-busy");
      moreButton.disabled = false;
      moreButton.textContent = "More results";
    }
  }
}

/** Searches for raw (trimmed); typed=true for search-as-you-type, fromHistory when the address led. */
function submit(raw, { typed = false, fromHistory = false } = {}) {
  clearTimeout(debounceTimer);
  if (picture) dropPicture(); // words typed or submitted replace the picture as the query
  const q = cleanQuery(raw);
  if (!checkLength(q)) {
    inFlight?.abort();
    return;
  }
  leaveSimilar();
  if (!fromHistory) writeQuery(q, { typed });
  if (q === "") {
    showIdle();
    return;
  }
  if (q === shown.q && (shown.ok || inFlight)) return;
  run(q, PAGE_SIZE, false);
}

/** A picture dropped or pasted into the box: the images like it; the address no longer names a query. */
function searchByPicture(file) {
  clearTimeout(debounceTimer);
  leaveSimilar();
  picture = file;
  pictureQuery.show(file);
  input.value = "";
  checkLength("");
  writeQuery("", { typed: false });
  run("", PAGE_SIZE, false);
}

function dropPicture() {
  picture = null;
  pictureQuery.clear();
  shown = { q: "", k: 0, ok: false }; // the list holds a picture's results, not a query's
}

function clearPicture() {
  dropPicture();
  showIdle();
  input.focus();
}

/** Shows the images similar to source (a result, or {id} from the address). */
function openSimilar(source) {
  similarTo = source;
  similarBar.show(source, config.apiBase);
  run(readQuery(), PAGE_SIZE, false);
}

/** "More like this" on a result: a new history entry, so Back returns to the list it was on. */
function showSimilar(result) {
  writeSimilar(result.id);
  openSimilar(result);
  $("similar-heading").focus();
}

function leaveSimilar() {
  if (!similarTo) return;
  similarTo = null;
  similarBar.hide();
  shown = { q: "", k: 0, ok: false }; // the list holds similar images, not a query's results
}

function backToSearch() {
  const q = readQuery();
  leaveSimilar();
  writeQuery(q, { typed: false });
  input.value = q;
  input.focus({ preventScroll: true });
  if (q) run(q, PAGE_SIZE, false);
  else showIdle();
}

input.addEventListener("input", () => {
  clearTimeout(debounceTimer);
  if (!checkLength(cleanQuery(input.value))) return;
  debounceTimer = setTimeout(() => submit(input.value, { typed: true }), DEBOUNCE_MS);
});
form.addEventListener("submit", (event) => {
  event.preventDefault();
  submit(input.value);
});
moreButton.addEventListener("click", () => {
  if (shown.ok) run(shown.q, Math.min(shown.k + PAGE_SIZE, MAX_K), true);
});
retryButton.addEventListener("click", () => {
  // The button hides while the retry runs; keep the keyboard focus somewhere useful.
  input.focus({ preventScroll: true });
  if (lastAttempt) run(lastAttempt.q, lastAttempt.k, lastAttempt.append);
});
window.addEventListener("popstate", () => {
  const q = readQuery();
  input.value = q;
  const filters = readFilters();
  const filtersChanged = !sameFilters(filters, filterBar.get());
  filterBar.set(filters);
  const id = readSimilar();
  if (id) openSimilar({ id });
  else if (filtersChanged && q && q === shown.q) run(q, PAGE_SIZE, false);
  else submit(q, { fromHistory: true });
});

/** A filter or the sort changed: record it in the address and search again (text searches only). */
function onFiltersChanged(filters) {
  writeFilters(filters);
  const q = readQuery();
  if (q && !similarTo) run(q, PAGE_SIZE, false);
}

const initial = readQuery();
filterBar.set(readFilters());
setStatus("idle", IDLE_MESSAGE);
if (readSimilar()) {
  input.value = initial;
  openSimilar({ id: readSimilar() });
} else if (initial) {
  input.value = initial;
  submit(initial, { fromHistory: true });
}
