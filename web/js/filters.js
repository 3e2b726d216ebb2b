// The filter bar: a date range, a folder and tags as removable chips, and the sort order. What it holds
// is a plain object; the address (url-state.js) and the API (api.js) read it through filterParams.

export const SORTS = ["relevance", "newest", "oldest"];
const MAX_TAGS = 10; // the server refuses more (function_app/filters.py)
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** No filter, sorted by relevance. */
export function emptyFilters() {
  return { after: "", before: "", folder: "", tags: [], sort: "relevance" };
}

/** The filters in URLSearchParams (the address): unknown sorts and malformed dates are dropped. */
export function filtersFromParams(params) {
  const date = (value) => (DATE.test(value ?? "") ? value : "");
  const sort = params.get("sort") ?? "";
  const tags = params.getAll("tag").flatMap((value) => value.split(","));
  return {
    after: date(params.get("taken_after")),
    before: date(params.get("taken_before")),
    folder: cleanFolder(params.get("folder") ?? ""),
    tags: uniqueTags(tags),
    sort: SORTS.includes(sort) ? sort : "relevance",
  };
}

/** [name, value] pairs for the address and the API; the defaults are left out. */
export function filterParams(filters) {
  const pairs = [];
  if (filters.after) pairs.push(["taken_after", filters.after]);
  if (filters.before) pairs.push(["taken_before", filters.before]);
  if (filters.folder) pairs.push(["folder", filters.folder]);
  for (const tag of filters.tags) pairs.push(["tag", tag]);
  if (filters.sort && filters.sort !== "relevance") pairs.push(["sort", filters.sort]);
  return pairs;
}

export function sameFilters(a, b) {
  return JSON.stringify(filterParams(a)) === JSON.stringify(filterParams(b));
}

function cleanFolder(raw) {
  return raw.trim().replace(/^\/+|\/+$/g, "");
}

function uniqueTags(raw) {
  const tags = raw.map((tag) => tag.replace(/\s+/g, " ").trim().toLowerCase()).filter(Boolean);
  return [...new Set(tags)].slice(0, MAX_TAGS);
}

function chip(label, value, onRemove) {
  const item = document.createElement("li");
  item.className = "filter-chip";
  const text = document.createElement("span");
  text.textContent = `${label}: ${value}`;
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "filter-chip-remove";
  remove.setAttribute("aria-label", `Remove ${label} ${value}`);
  remove.textContent = "×";
  remove.addEventListener("click", onRemove);
  item.append(text, remove);
  return item;
}

/**
 * Wires the filter controls inside root; onChange(filters) runs after every change a person makes.
 * Returns { get(), set(filters) }: set shows filters (from the address) without calling onChange.
 */
export function createFilterBar(root, onChange) {
  const $ = (name) => root.querySelector(`[data-filter="${name}"]`);
  const after = $("after");
  const before = $("before");
  const folder = $("folder");
  const tag = $("tag");
  const sort = $("sort");
  const chips = $("chips");
  let state = emptyFilters();

  function render() {
    after.value = state.after;
    before.value = state.before;
    sort.value = state.sort;
    const items = [];
    if (state.folder) items.push(chip("folder", state.folder, () => change({ folder: "" })));
    for (const value of state.tags) {
      items.push(chip("tag", value, () => change({ tags: state.tags.filter((t) => t !== value) })));
    }
    chips.replaceChildren(...items);
    chips.hidden = items.length === 0;
  }

  function change(part) {
    state = { ...state, ...part };
    render();
    onChange(state);
  }

  const onEnter = (input, apply) =>
    input.addEventListener("keydown", (event) => {
      if (event.key !== "Enter") return;
      event.preventDefault();
      const value = input.value;
      input.value = "";
      apply(value);
    });
  onEnter(folder, (value) => {
    const cleaned = cleanFolder(value);
    if (cleaned && cleaned !== state.folder) change({ folder: cleaned });
  });
  onEnter(tag, (value) => {
    const tags = uniqueTags([...state.tags, ...value.split(",")]);
    if (tags.length !== state.tags.length) change({ tags });
  });
  after.addEventListener("change", () => change({ after: DATE.test(after.value) ? after.value : "" }));
  before.addEventListener("change", () => change({ before: DATE.test(before.value) ? before.value : "" }));
  sort.addEventListener("change", () => change({ sort: SORTS.includes(sort.value) ? sort.value : "relevance" }));

  render();
  return {
    get: () => state,
    set(filters) {
      state = { ...filters, tags: [...filters.tags] };
      render();
    },
  };
}
