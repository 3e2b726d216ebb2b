// DOM builders for results. Data from the API only ever becomes text nodes and attribute values,
// never markup: a caption or query holding "<script>" is shown as those characters.

import { apiUrl } from "./api.js";
import { highlightSegments } from "./highlight.js";

/** The caption as text, with the words it shares with the query wrapped in <mark>. */
export function captionNodes(caption, query) {
  const fragment = document.createDocumentFragment();
  for (const { text, match } of highlightSegments(caption, query)) {
    if (match) {
      const mark = document.createElement("mark");
      mark.textContent = text;
      fragment.append(mark);
    } else {
      fragment.append(document.createTextNode(text));
    }
  }
  return fragment;
}

/**
 * An absolute http(s) URL for a result's image, or null. Relative URLs ("/images/...") belong to the
 * API's server, which need not be this page's origin; other schemes (javascript:, data:) are refused.
 */
export function imageSource(raw, apiBase) {
  if (typeof raw !== "string" || raw === "") return null;
  let url;
  try {
    url = new URL(raw, apiUrl(apiBase, "/"));
  } catch {
    return null;
  }
  return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
}

/** A box that stands in for an image that is missing or failed to load. */
export function placeholder(caption) {
  const box = document.createElement("div");
  box.className = "image-missing";
  box.setAttribute("role", "img");
  box.setAttribute("aria-label", caption ? `Image unavailable: ${caption}` : "Image unavailable");
  const label = document.createElement("span");
  label.className = "image-missing-label";
  label.setAttribute("aria-hidden", "true");
  label.textContent = "Image unavailable";
  box.append(label);
  return box;
}

/** An <img> described by its caption that swaps itself for the placeholder if it fails to load. */
export function picture(src, caption, { lazy = true } = {}) {
  if (!src) return placeholder(caption);
  const img = document.createElement("img");
  img.alt = caption;
  img.decoding = "async";
  if (lazy) img.loading = "lazy";
  img.addEventListener("error", () => img.replaceWith(placeholder(caption)), { once: true });
  img.src = src;
  return img;
}

/** "0.83", or "" when the API sent no usable score. */
export function formatScore(score) {
  return typeof score === "number" && Number.isFinite(score) ? score.toFixed(2) : "";
}

/** The result's fields as safe strings, whatever the API sent. */
export function cleanResult(raw) {
  const text = (value) => (typeof value === "string" ? value : value == null ? "" : String(value));
  return {
    id: text(raw?.id ?? raw?.name ?? raw?.url),
    name: text(raw?.name),
    caption: text(raw?.caption).trim(),
    alternatives: Array.isArray(raw?.alternatives)
      ? raw.alternatives.map(text).map((t) => t.trim()).filter(Boolean).slice(0, 4)
      : [],
    tags: Array.isArray(raw?.tags)
      ? raw.tags
          .map((tag) => ({ text: text(tag?.text).trim(), confidence: tag?.confidence }))
          .filter((tag) => tag.text)
          .slice(0, MAX_TAGS)
      : [],
    textInPicture: text(raw?.text_in_picture).trim().slice(0, MAX_READ_CHARS),
    score: raw?.score,
    url: raw?.url,
    taken: typeof raw?.taken === "string" && !Number.isNaN(Date.parse(raw.taken)) ? raw.taken : "",
    takenFrom: raw?.taken_from === "exif" || raw?.taken_from === "modified" ? raw.taken_from : "",
  };
}

/** "taken 31 May 2024" (from EXIF) or "file date 31 May 2024" (the file's time), or null without one. */
export function takenLine(taken, takenFrom) {
  if (!taken) return null;
  const line = document.createElement("p");
  line.className = "result-taken";
  const time = document.createElement("time");
  time.dateTime = taken;
  time.textContent = new Date(taken).toLocaleDateString(undefined, { dateStyle: "medium", timeZone: "UTC" });
  line.title = takenFrom === "exif" ? "when the camera took it (EXIF)" : "when the file was last changed";
  line.append(takenFrom === "exif" ? "taken " : "file date ", time);
  return line;
}

const MAX_READ_CHARS = 200;

/** "text in picture: …", the words OCR read in the picture, with the query's words marked; null when
 * none were read. */
export function readTextLine(textInPicture, query) {
  if (!textInPicture) return null;
  const line = document.createElement("p");
  line.className = "result-read";
  const label = document.createElement("span");
  label.className = "result-read-label";
  label.textContent = "text in picture: ";
  line.append(label, captionNodes(textInPicture, query));
  return line;
}

const MAX_TAGS = 6;

/** "61% sure", or "" when the API sent no usable confidence. */
export function formatConfidence(confidence) {
  return typeof confidence === "number" && Number.isFinite(confidence)
    ? `${Math.round(Math.min(1, Math.max(0, confidence)) * 100)}% sure`
    : "";
}

/** What the picture shows by the classifier's tags, as a line of labelled chips; words the query
 * shares are marked, as in captions. Null when the result has no tags. */
export function tagLine(tags, query) {
  if (!tags.length) return null;
  const line = document.createElement("p");
  line.className = "result-tags";
  const label = document.createElement("span");
  label.className = "result-tags-label";
  label.textContent = "shows: ";
  line.append(label);
  for (const tag of tags) {
    const chip = document.createElement("span");
    chip.className = "result-tag";
    chip.title = formatConfidence(tag.confidence);
    chip.append(captionNodes(tag.text, query));
    line.append(chip);
  }
  return line;
}

function scoreLine(score) {
  const line = document.createElement("p");
  line.className = "result-score";
  const value = formatScore(score);
  if (value) {
    const label = document.createElement("span");
    label.className = "result-score-label";
    label.textContent = "match ";
    const number = document.createElement("span");
    number.className = "result-score-value";
    number.textContent = value;
    line.title =
      "How well the captions and tags match the query: meaning (cosine similarity) and shared words (1 is a perfect match)";
    line.append(label, number);
  }
  return line;
}

/** One result as a list item; activating its image button calls onOpen(result, button). */
export function resultCard(result, query, apiBase, onOpen) {
  const item = document.createElement("li");
  item.className = "result";
  item.dataset.id = result.id;

  const open = document.createElement("button");
  open.type = "button";
  open.className = "result-open";
  open.append(picture(imageSource(result.url, apiBase), result.caption || result.name));
  const hint = document.createElement("span");
  hint.className = "visually-hidden";
  hint.textContent = " (open larger view)";
  open.append(hint);
  open.addEventListener("click", () => onOpen(result, open));

  const caption = document.createElement("p");
  caption.className = "result-caption";
  caption.append(captionNodes(result.caption || "(no caption)", query));

  item.append(open, caption);
  if (result.alternatives.length) {
    // The captioner's other readings of the picture: often why it matched.
    const also = document.createElement("p");
    also.className = "result-also";
    const label = document.createElement("span");
    label.className = "result-also-label";
    label.textContent = "also: ";
    also.append(label, captionNodes(result.alternatives.join("; "), query));
    item.append(also);
  }
  // The image classifier's view of the picture: why a photo matched that the captions miss.
  const tags = tagLine(result.tags, query);
  if (tags) item.append(tags);
  const read = readTextLine(result.textInPicture, query);
  if (read) item.append(read);
  const taken = takenLine(result.taken, result.takenFrom);
  if (taken) item.append(taken);
  item.append(scoreLine(result.score));
  return item;
}
