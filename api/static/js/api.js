// The HTTP API: requests with the Bearer key from sessionStorage, and the alert stream read from a fetch body
// (EventSource cannot send an Authorization header).

const KEY = "fenghuo.key";

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
    this.detail = detail;
  }
}

export function getKey() { return sessionStorage.getItem(KEY); }
export function setKey(key) { sessionStorage.setItem(KEY, key); }
export function dropKey() { sessionStorage.removeItem(KEY); sessionStorage.removeItem("fenghuo.readonly"); }

let onUnauthorized = () => {};
export function whenUnauthorized(fn) { onUnauthorized = fn; }

export async function api(path, { method = "GET", body, params } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(params || {})) if (v !== null && v !== undefined && v !== "") url.searchParams.set(k, v);
  const headers = { Authorization: `Bearer ${getKey()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    if (res.status === 401) onUnauthorized();
    throw new ApiError(res.status, data?.detail ?? res.statusText);
  }
  return data;
}

/** Parse server-sent event blocks out of a text buffer; returns [messages, rest]. */
export function parseSse(buffer) {
  const messages = [];
  const blocks = buffer.split(/\r?\n\r?\n/);
  const rest = blocks.pop();
  for (const block of blocks) {
    let event = "message";
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (data.length) {
      try { messages.push({ event, data: JSON.parse(data.join("\n")) }); } catch { /* not JSON: ignore */ }
    }
  }
  return [messages, rest];
}

/**
 * Follow /v1/alerts/stream until stop() is called: onMessage for each change, onState("connecting"|"live"|"down").
 * Reconnects with backoff; after every (re)connection onState("live") lets the caller reload what it missed.
 */
export function followAlerts(onMessage, onState) {
  let stopped = false;
  let controller = null;
  let delay = 1000;

  async function once() {
    controller = new AbortController();
    onState("connecting");
    const res = await fetch("/v1/alerts/stream", {
      headers: { Authorization: `Bearer ${getKey()}`, Accept: "text/event-stream" },
      signal: controller.signal,
    });
    if (res.status === 401) { onUnauthorized(); stopped = true; return; }
    if (!res.ok || !res.body) throw new Error(`stream: HTTP ${res.status}`);
    onState("live");
    delay = 1000;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      let messages;
      [messages, buffer] = parseSse(buffer + value);
      for (const m of messages) onMessage(m.data);
    }
  }

  async function loop() {
    while (!stopped) {
      try { await once(); } catch { /* network error or aborted */ }
      if (stopped) break;
      onState("down");
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 15000);
    }
  }

  loop();
  return () => { stopped = true; controller?.abort(); };
}
