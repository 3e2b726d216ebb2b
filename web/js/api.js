// The search API client: one request, with a timeout, turned into data or a SearchError.

import { filterParams } from "./filters.js";

/** The server refuses longer queries (400); the page stops people before that. */
export const MAX_QUERY_CHARS = 512;
/** The server accepts k in 1..100. */
export const MAX_K = 100;

/**
 * A failed search, in words a person can read.
 * kind: "network" (no answer), "timeout", "http" (4xx/5xx; status is set) or "invalid" (unreadable answer).
 * retryable: whether trying again might help (not for 4xx, where the request itself is wrong).
 */
export class SearchError extends Error {
  constructor(kind, message, status = 0) {
    super(message);
    this.name = "SearchError";
    this.kind = kind;
    this.status = status;
    this.retryable = !(kind === "http" && status >= 400 && status < 500);
  }
}

/** The query as the server reads it: runs of whitespace collapsed to one space, ends trimmed. */
export function cleanQuery(raw) {
  return raw.replace(/\s+/g, " ").trim();
}

/** Length as the server counts it (Python len: code points, not UTF-16 units). */
export function queryLength(q) {
  return [...q].length;
}

/** Joins the configured base and an API path; "" means the page's own origin. */
export function apiUrl(apiBase, path) {
  return new URL(apiBase.replace(/\/+$/, "") + path, window.location.href);
}

/**
 * GET {apiBase}/api/search?q=&k= and return the parsed body: {query, k, results: [...], timing_ms}.
 * Rejects with a SearchError, or with the signal's reason when the caller aborted.
 */
export async function search({ apiBase, q, k, filters, timeoutMs, signal }) {
  const url = apiUrl(apiBase, "/api/search");
  url.searchParams.set("q", q);
  url.searchParams.set("k", String(k));
  for (const [name, value] of filters ? filterParams(filters) : []) url.searchParams.append(name, value);
  return getJson(url, { timeoutMs, signal });
}

/**
 * GET {apiBase}/api/similar?id=&k=: the images most like image id, as {source, k, results: [...],
 * timing_ms}; fails as search does (a 404 when the index has no such image).
 */
export async function similar({ apiBase, id, k, timeoutMs, signal }) {
  const url = apiUrl(apiBase, "/api/similar");
  url.searchParams.set("id", id);
  url.searchParams.set("k", String(k));
  return getJson(url, { timeoutMs, signal });
}

/**
 * POST {apiBase}/api/search/image?k= with the picture file itself as the body: the images most like it,
 * as {query (the picture read as its tags), k, results: [...], timing_ms}; fails as search does.
 */
export async function searchPicture({ apiBase, file, k, timeoutMs, signal }) {
  const url = apiUrl(apiBase, "/api/search/image");
  url.searchParams.set("k", String(k));
  const init = { method: "POST", body: file, headers: { "Content-Type": file.type } };
  return getJson(url, { timeoutMs, signal, init });
}

async function getJson(url, { timeoutMs, signal, init = {} }) {
  // One controller for both the caller's abort (a newer search) and our timeout.
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);

  try {
    let response;
    try {
      const headers = { Accept: "application/json", ...init.headers };
      response = await fetch(url, { ...init, signal: controller.signal, headers });
    } catch (err) {
      throw requestFailure(err, { timedOut, aborted: signal?.aborted, timeoutMs });
    }
    let body;
    try {
      body = await response.json();
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (timedOut) throw requestFailure(err, { timedOut, timeoutMs });
      body = null;
    }
    if (!response.ok) throw httpError(response.status, body);
    return checkBody(body);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}

function requestFailure(err, { timedOut, aborted, timeoutMs }) {
  if (aborted) return err;
  if (timedOut) {
    const seconds = Math.round(timeoutMs / 100) / 10;
    return new SearchError("timeout", `The search took too long (no answer within ${seconds} s). Please try again.`);
  }
  return new SearchError(
    "network",
    "Could not reach the search service. Check your connection and try again.",
  );
}

function httpError(status, body) {
  const serverMessage = typeof body?.error?.message === "string" ? body.error.message.trim() : "";
  if (status === 503) {
    const detail = serverMessage ? ` (${serverMessage})` : "";
    return new SearchError(
      "http",
      `The search service is temporarily unavailable${detail}. Please try again in a moment.`,
      status,
    );
  }
  if (status >= 400 && status < 500) {
    return new SearchError("http", serverMessage || `The search was refused (error ${status}).`, status);
  }
  const detail = serverMessage ? `: ${serverMessage}` : "";
  return new SearchError("http", `The search service had a problem (error ${status})${detail}.`, status);
}

function checkBody(body) {
  if (!body || !Array.isArray(body.results)) {
    throw new SearchError("invalid", "The search service sent an answer this page could not read.");
  }
  return body;
}
