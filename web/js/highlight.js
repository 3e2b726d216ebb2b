// Which words of a caption the query shares with it: pure functions, no DOM.

const WORD = /[\p{L}\p{N}]+(?:['’][\p{L}]+)?/gu;

// Words so common in captions that marking them would mark everything.
const STOP_WORDS = new Set(
  "a an the of on in at to with and or is are was be by for from its it this that".split(" "),
);

/** A comparable form of a word: lower case, a plural "s" dropped ("Dogs" and "dog" match). */
export function normalise(word) {
  const lower = word.toLocaleLowerCase();
  return lower.length > 3 && lower.endsWith("s") && !lower.endsWith("ss") ? lower.slice(0, -1) : lower;
}

/** The set of normalised, non-stop words in a query. */
export function queryTerms(query) {
  const terms = new Set();
  for (const [word] of query.matchAll(WORD)) {
    const term = normalise(word);
    if (!STOP_WORDS.has(term)) terms.add(term);
  }
  return terms;
}

/**
 * Splits text into consecutive segments [{text, match}], match=true for words shared with the query.
 * Joining the texts gives the input back unchanged.
 */
export function highlightSegments(text, query) {
  const terms = queryTerms(query);
  const segments = [];
  let last = 0;
  for (const found of text.matchAll(WORD)) {
    if (!terms.has(normalise(found[0]))) continue;
    if (found.index > last) segments.push({ text: text.slice(last, found.index), match: false });
    segments.push({ text: found[0], match: true });
    last = found.index + found[0].length;
  }
  if (last < text.length) segments.push({ text: text.slice(last), match: false });
  return segments;
}
