// Live updates over the API's server-sent events, at most a few per second.
//
// subscribe(url, onData) listens to an event stream and hands the latest event's JSON to
// onData no more than once per `interval` ms (250 by default): events arriving in between
// are coalesced into the newest, so a fast campaign never floods the page.
//
// Wired by attributes (see app.js): an element with data-live-source="/api/v1/…/events"
// (and optionally data-live-event, default "progress") is updated from each event:
// - [data-live-field="counts.sent"] gets the value as its text; data-live-format="number"
//   or "percent" formats it in the page's language (data-live-decimals, default 0);
//   data-live-labels='{"running":"Enviando",…}' turns a value into words, and
//   data-live-tones='{"running":"info",…}' sets the element's data-tone (badge colour);
// - [data-live-value="progress_percent"] (a <progress> or <meter>) gets the value as its
//   value attribute.
// - [data-live-sum="counts.sent counts.delivered"] gets the sum of those values;
// - data-live-format="duration" writes seconds as "1 h 5 min"; data-live-empty="" is what
//   a missing value shows (default "—").
// The stream is closed when the event's "status" is listed in data-live-until
// (space-separated), e.g. "completed cancelled failed".
// A container with data-live-keyed="id" follows a stream of several things (the campaigns
// of a list): each event updates the descendant [data-live-row] whose value is the event's
// "id", and nothing else.

const DEFAULT_INTERVAL = 250;

/**
 * Listens to `url`; calls onData(json) at most once per interval ms. With `key` (a dotted
 * path), events of different keys are coalesced apart: each key's newest is handed on.
 * Returns a close function.
 */
export function subscribe(url, onData, { event = "progress", interval = DEFAULT_INTERVAL, key = null } = {}) {
  const source = new EventSource(url, { withCredentials: true });
  let pending = new Map();
  let timer = null;
  let last = 0;
  const flush = () => {
    timer = null;
    last = Date.now();
    const batch = pending;
    pending = new Map();
    for (const data of batch.values()) onData(data);
  };
  source.addEventListener(event, (message) => {
    let data;
    try {
      data = JSON.parse(message.data);
    } catch {
      return;
    }
    pending.set(key ? String(pick(data, key)) : "", data);
    if (timer !== null) return;
    timer = window.setTimeout(flush, Math.max(0, last + interval - Date.now()));
  });
  // The server says when nothing it follows can change any more; reconnecting then would
  // only replay the same events.
  source.addEventListener("end", () => source.close());
  return () => {
    if (timer !== null) window.clearTimeout(timer);
    source.close();
  };
}

/** The value at a dotted path ("counts.sent") of `data`. */
export function pick(data, path) {
  let value = data;
  for (const key of path.split(".")) {
    if (value === null || value === undefined) return undefined;
    value = value[key];
  }
  return value;
}

function parseMap(text) {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** `value` written for people, as the element's data-live-* attributes ask. */
/** Seconds for reading, as the server writes them (i18n.rs `duration`). */
export function formatDuration(seconds, lang) {
  const s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const days = new Intl.NumberFormat(lang, { useGrouping: "always" }).format(d);
  if (d > 0) return h > 0 ? `${days} d ${h} h` : `${days} d`;
  if (h > 0) return m > 0 ? `${h} h ${m} min` : `${h} h`;
  if (m > 0) return `${m} min`;
  return `${s} s`;
}

export function formatValue(value, element) {
  if (value === null || value === undefined || value === "") {
    return element.dataset.liveEmpty !== undefined ? element.dataset.liveEmpty : "—";
  }
  const labels = parseMap(element.dataset.liveLabels);
  if (labels && Object.prototype.hasOwnProperty.call(labels, value)) return labels[value];
  const format = element.dataset.liveFormat;
  if (format === "duration" && typeof value === "number") {
    return formatDuration(value, document.documentElement.lang || "es");
  }
  if ((format === "number" || format === "percent") && typeof value === "number") {
    const decimals = Number(element.dataset.liveDecimals || 0);
    const lang = document.documentElement.lang || "es";
    return new Intl.NumberFormat(lang, {
      minimumFractionDigits: decimals,
      maximumFractionDigits: decimals,
      useGrouping: "always",
      style: format === "percent" ? "percent" : "decimal",
    }).format(format === "percent" ? value / 100 : value);
  }
  return String(value);
}

/** Applies one event's data to the elements under `container`. */
export function apply(container, data) {
  for (const element of container.querySelectorAll("[data-live-field]")) {
    const value = pick(data, element.dataset.liveField);
    const text = formatValue(value, element);
    if (element.textContent !== text) element.textContent = text;
    const tones = parseMap(element.dataset.liveTones);
    if (tones && Object.prototype.hasOwnProperty.call(tones, value)) element.dataset.tone = tones[value];
  }
  for (const element of container.querySelectorAll("[data-live-sum]")) {
    const values = element.dataset.liveSum.split(/\s+/).filter(Boolean).map((p) => pick(data, p));
    if (values.some((v) => typeof v !== "number")) continue;
    const text = formatValue(values.reduce((a, b) => a + b, 0), element);
    if (element.textContent !== text) element.textContent = text;
  }
  for (const element of container.querySelectorAll("[data-live-value]")) {
    const value = pick(data, element.dataset.liveValue);
    if (typeof value === "number") element.value = value;
  }
}

/** Wires every [data-live-source] under `root`. */
export function wireLive(root) {
  for (const container of root.querySelectorAll("[data-live-source]")) {
    const until = (container.dataset.liveUntil || "").split(/\s+/).filter(Boolean);
    const close = subscribe(
      container.dataset.liveSource,
      (data) => {
        if (container.dataset.liveKeyed) {
          const key = pick(data, container.dataset.liveKeyed);
          for (const row of container.querySelectorAll("[data-live-row]")) {
            if (row.dataset.liveRow === String(key)) apply(row, data);
          }
          return;
        }
        apply(container, data);
        if (data && until.includes(data.status)) close();
      },
      { event: container.dataset.liveEvent || "progress", key: container.dataset.liveKeyed || null },
    );
  }
}
