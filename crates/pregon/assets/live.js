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
// The stream is closed when the event's "status" is listed in data-live-until
// (space-separated), e.g. "completed cancelled failed".

const DEFAULT_INTERVAL = 250;

/** Listens to `url`; calls onData(json) at most once per interval ms. Returns a close function. */
export function subscribe(url, onData, { event = "progress", interval = DEFAULT_INTERVAL } = {}) {
  const source = new EventSource(url, { withCredentials: true });
  let pending = null;
  let timer = null;
  let last = 0;
  const flush = () => {
    timer = null;
    last = Date.now();
    const data = pending;
    pending = null;
    if (data !== null) onData(data);
  };
  source.addEventListener(event, (message) => {
    try {
      pending = JSON.parse(message.data);
    } catch {
      return;
    }
    if (timer !== null) return;
    timer = window.setTimeout(flush, Math.max(0, last + interval - Date.now()));
  });
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
export function formatValue(value, element) {
  if (value === null || value === undefined) return "—";
  const labels = parseMap(element.dataset.liveLabels);
  if (labels && Object.prototype.hasOwnProperty.call(labels, value)) return labels[value];
  const format = element.dataset.liveFormat;
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
        apply(container, data);
        if (data && until.includes(data.status)) close();
      },
      { event: container.dataset.liveEvent || "progress" },
    );
  }
}
