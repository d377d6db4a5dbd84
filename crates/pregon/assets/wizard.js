// The new-campaign wizard (templates/wizard.html, console/wizard.rs).
//
// - Reads the contacts from the chosen file or the pasted rows, detects the separator
//   (, ; or tab) and whether the first row names the columns, shows the first rows, and
//   lets the person map the phone column and a column to each template variable.
// - "Validate" sends the same import as the final one with dry_run=true: the server
//   applies the field_mapping, nothing is created, and its report is drawn as a table by
//   reason, each reason's rows downloadable as a CSV (the original fields and the reason).
// - Previews the first accepted rows through POST /api/v1/templates/{id}/preview, as a
//   chat bubble; text goes in with textContent only, images only from https URLs.
// - A column of time zones, when chosen, keeps the window in each recipient's own zone
//   (schedule.recipient_timezone and timezone_field).
// - Estimates the duration from the sender's rate and daily limit and the chosen rate.
// - Creates the campaign with one Idempotency-Key per page (a new one after a refusal,
//   which the server keeps under the old one), then opens its page.
// Every word comes from data-messages (the Fluent catalogs, in the page's language).

import { ApiError, csrfToken, describeError } from "./api.js";

const IMPORT_URL = "/api/v1/campaigns/import";
const PHONE_NAMES = ["phone", "numero", "telefono", "to", "number", "celular", "movil", "whatsapp"];
const REASONS = ["invalid_phone", "duplicate", "opted_out", "no_consent", "missing_variable"];
const SAMPLE_ROWS = 5;
const PREVIEWS = 3;

const form = document.querySelector("form[data-wizard]");
if (form) wire(form);

/** Lower case, no accents, trimmed: how column names are compared. */
function fold(name) {
  return String(name).trim().normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
}

/** Whether a value looks like a phone number. */
function phoneLike(value) {
  const digits = String(value).replace(/[\s+().-]/g, "");
  return /^\d{7,15}$/.test(digits);
}

/** The separator the first line uses most, outside quotes (as the server decides). */
export function detectSeparator(text) {
  const line = text.split("\n", 1)[0];
  let commas = 0, semicolons = 0, tabs = 0, quoted = false;
  for (const c of line) {
    if (c === '"') quoted = !quoted;
    else if (!quoted && c === ",") commas++;
    else if (!quoted && c === ";") semicolons++;
    else if (!quoted && c === "\t") tabs++;
  }
  if (tabs > commas && tabs > semicolons) return "\t";
  return semicolons > commas ? ";" : ",";
}

/**
 * CSV records, each with the line it starts on (numbered as the server numbers rows) and
 * its fields, trimmed; blank records are left out.
 */
export function parseCsv(text, separator) {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const records = [];
  let fields = [], field = "", quoted = false, line = 1, start = 1, i = 0;
  const endRecord = () => {
    fields.push(field.trim());
    if (fields.some((f) => f !== "")) records.push({ line: start, fields });
    fields = [];
    field = "";
  };
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
        continue;
      }
      if (c === '"') quoted = false;
      else {
        if (c === "\n") line++;
        field += c;
      }
      i++;
      continue;
    }
    if (c === '"' && field.trim() === "") {
      quoted = true;
      field = "";
    } else if (c === separator) {
      fields.push(field.trim());
      field = "";
    } else if (c === "\n") {
      endRecord();
      line++;
      start = line;
    } else if (c !== "\r") {
      field += c;
    }
    i++;
  }
  if (field !== "" || fields.length) endRecord();
  return records;
}

/** Whether the first record names the columns: it has no phone, and the next one does. */
export function detectHeader(records) {
  if (!records.length) return true;
  const first = records[0].fields.some(phoneLike);
  if (first) return false;
  return true;
}

/** A UTC instant from a `datetime-local` value read in the IANA zone `zone`. */
function zonedToIso(local, zone) {
  const [date, time] = local.split("T");
  const [y, mo, d] = date.split("-").map(Number);
  const [h, mi] = time.split(":").map(Number);
  const guess = Date.UTC(y, mo - 1, d, h, mi);
  let offset = 0;
  try {
    const parts = new Intl.DateTimeFormat("en-US", {
      timeZone: zone || "UTC",
      hourCycle: "h23",
      year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    }).formatToParts(new Date(guess));
    const get = (type) => Number(parts.find((p) => p.type === type).value);
    offset = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour") % 24, get("minute")) - guess;
  } catch {
    return new Date(local).toISOString();
  }
  return new Date(guess - offset).toISOString();
}

/** A CSV line, quoted where needed (and against spreadsheet formulas). */
function csvLine(values) {
  return values
    .map((v) => {
      let s = String(v ?? "");
      if (/^[=+\-@]/.test(s) && !phoneLike(s)) s = "'" + s;
      return /[",;\n\r\t]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
    })
    .join(",");
}

/** A new idempotency key: `wiz_` and 32 random hex digits. */
function freshKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return "wiz_" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function element(tag, attributes = {}, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function wire(form) {
  const words = JSON.parse(form.dataset.messages || "{}");
  const say = (key, args = {}) => {
    let text = words[key] || key;
    for (const name of Object.keys(args).sort((a, b) => b.length - a.length)) {
      text = text.split("%" + name).join(String(args[name]));
    }
    return text;
  };
  const lang = document.documentElement.lang || "es";
  const number = (n, digits = 0) => new Intl.NumberFormat(lang, { maximumFractionDigits: digits }).format(n);
  const $ = (selector) => form.querySelector(selector);
  const fileInput = $("#wizard-file");
  const paste = $("#wizard-paste");
  const separatorSelect = $("#wizard-separator");
  const headerSelect = $("#wizard-header");
  const templateSelect = $("#wizard-template");
  const senderSelect = $("#wizard-sender");
  const detected = $("[data-wizard-detected]");
  const sample = $("[data-wizard-sample]");
  const mapping = $("[data-wizard-mapping]");
  const mappingFields = $("[data-wizard-mapping-fields]");
  const reportBox = $("[data-wizard-report]");
  const previewBox = $("[data-wizard-preview]");
  const estimateBox = $("[data-wizard-estimate]");
  const status = $("[data-wizard-status]");
  const submit = $("[data-wizard-submit]");
  const timezone = $("#wizard-timezone");
  if (timezone && !timezone.value) {
    try {
      timezone.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch {
      /* left empty: UTC */
    }
  }

  const state = { text: null, fileName: "contactos.csv", separator: ",", header: true, records: [], names: [], report: null };

  const variables = () => {
    const option = templateSelect && templateSelect.selectedOptions[0];
    try {
      return option ? JSON.parse(option.dataset.variables || "[]") : [];
    } catch {
      return [];
    }
  };
  const columnLabel = (name, index) => (state.header ? name : say("column", { n: index + 1 }));

  function clearChecks() {
    state.report = null;
    reportBox.replaceChildren();
    previewBox.replaceChildren();
    estimate();
  }

  async function read() {
    clearChecks();
    const file = fileInput && fileInput.files && fileInput.files[0];
    let text = "";
    if (file) {
      text = await file.text();
      state.fileName = file.name || "contactos.csv";
    } else {
      text = paste.value;
      state.fileName = "contactos.csv";
    }
    text = text.replace(/^\ufeff/, "");
    if (!text.trim()) {
      state.text = null;
      detected.textContent = say("no-rows");
      sample.replaceChildren();
      mapping.hidden = true;
      return;
    }
    state.text = text;
    const sepChoice = separatorSelect.value;
    state.separator = sepChoice === "tab" ? "\t" : sepChoice || detectSeparator(text);
    const records = parseCsv(text, state.separator);
    const headerChoice = headerSelect.value;
    state.header = headerChoice ? headerChoice === "true" : detectHeader(records);
    const width = Math.max(0, ...records.map((r) => r.fields.length));
    if (state.header && records.length) {
      state.names = records[0].fields.slice();
      state.records = records.slice(1);
    } else {
      state.names = Array.from({ length: width }, (_, i) => String(i + 1));
      state.records = records;
    }
    const separatorWord = { ",": say("sep-comma"), ";": say("sep-semicolon"), "\t": say("sep-tab") }[state.separator];
    detected.textContent = say("read", {
      separator: separatorWord,
      header: say(state.header ? "header-yes" : "header-no"),
      rows: number(state.records.length),
      columns: number(state.names.length),
    });
    drawSample();
    drawMapping();
  }

  function drawSample() {
    const wrap = element("div", { class: "table-wrap", role: "region", "aria-labelledby": "wizard-sample-caption", tabindex: "0" });
    const table = element("table", { class: "table" });
    table.append(element("caption", { id: "wizard-sample-caption" }, say("sample-caption")));
    const head = element("tr");
    head.append(element("th", { scope: "col" }, say("row")));
    state.names.forEach((name, i) => head.append(element("th", { scope: "col" }, columnLabel(name, i))));
    const thead = element("thead");
    thead.append(head);
    table.append(thead);
    const body = element("tbody");
    for (const record of state.records.slice(0, SAMPLE_ROWS)) {
      const tr = element("tr");
      tr.append(element("th", { scope: "row" }, String(record.line)));
      state.names.forEach((_, i) => tr.append(element("td", {}, record.fields[i] ?? "")));
      body.append(tr);
    }
    table.append(body);
    wrap.append(table);
    sample.replaceChildren(wrap);
  }

  function columnSelect(id, label, chosen, optional) {
    const field = element("div", { class: "field" });
    field.append(element("label", { for: id }, label));
    const select = element("select", { id, "data-wizard-map": "" });
    if (optional) select.append(element("option", { value: "" }, say("unmapped")));
    state.names.forEach((name, i) => {
      const option = element("option", { value: name }, columnLabel(name, i));
      if (name === chosen) option.selected = true;
      select.append(option);
    });
    select.addEventListener("change", clearChecks);
    field.append(select);
    return { field, select };
  }

  function guessPhone() {
    const byName = state.names.find((n) => PHONE_NAMES.includes(fold(n)));
    if (byName !== undefined) return byName;
    const first = state.records[0];
    const index = first ? first.fields.findIndex(phoneLike) : -1;
    return index >= 0 ? state.names[index] : state.names[0];
  }

  function drawMapping() {
    mappingFields.replaceChildren();
    if (!state.text) {
      mapping.hidden = true;
      return;
    }
    const phone = columnSelect("wizard-map-phone", say("map-phone"), guessPhone(), false);
    phone.select.dataset.key = "phone";
    mappingFields.append(phone.field);
    variables().forEach((variable, i) => {
      const same = state.names.find((n) => fold(n) === fold(variable));
      const one = columnSelect("wizard-map-var-" + i, say("map-variable", { name: variable }), same, true);
      one.select.dataset.key = variable;
      mappingFields.append(one.field);
    });
    // Per-recipient time zones: a column of IANA zones (else each phone's country).
    const zoneColumn = state.names.find((n) => ["timezone", "zona horaria", "zona"].includes(fold(n)));
    const zone = columnSelect("wizard-map-timezone", say("map-timezone"), zoneColumn, true);
    zone.select.removeAttribute("data-wizard-map");
    zone.select.setAttribute("data-wizard-zone-column", "");
    mappingFields.append(zone.field);
    mapping.hidden = false;
  }

  function fieldMapping() {
    const map = {};
    for (const select of mappingFields.querySelectorAll("select[data-wizard-map]")) {
      if (select.value) map[select.dataset.key] = select.value;
    }
    return map;
  }

  function chosenRate() {
    const v = parseFloat(form.elements.rate.value);
    return Number.isFinite(v) && v > 0 ? v : null;
  }

  function schedule(when) {
    const zone = timezone.value.trim();
    const s = {};
    const startAt = form.elements.start_at.value;
    if (when === "schedule" && startAt) s.start_at = zonedToIso(startAt, zone);
    const start = form.elements.window_start.value;
    const end = form.elements.window_end.value;
    if (start && end) {
      s.window = {
        start,
        end,
        days: Array.from(form.querySelectorAll('input[name="window_day"]:checked')).map((c) => Number(c.value)),
      };
    }
    if (form.querySelector('input[name="recipient_timezone"]').checked) s.recipient_timezone = true;
    const zoneColumn = mappingFields.querySelector("select[data-wizard-zone-column]");
    if (zoneColumn && zoneColumn.value && s.window) {
      s.recipient_timezone = true;
      s.timezone_field = zoneColumn.value;
    }
    if (!Object.keys(s).length) return null;
    if (zone) s.timezone = zone;
    return s;
  }

  /** The import's multipart body; a dry run when `dry`. */
  function body(dry) {
    const data = new FormData();
    const when = (form.querySelector('input[name="when"]:checked') || {}).value || "now";
    const name = form.elements.name.value.trim();
    data.append("file", new Blob([state.text], { type: "text/csv" }), state.fileName);
    data.append("name", name || (dry ? "-" : ""));
    data.append("template_id", templateSelect.value);
    data.append("sender_id", senderSelect.value);
    data.append("separator", state.separator === "\t" ? "tab" : state.separator);
    data.append("header", state.header ? "true" : "false");
    data.append("field_mapping", JSON.stringify(fieldMapping()));
    data.append("start", when === "draft" ? "false" : "true");
    const plan = schedule(when);
    if (plan) data.append("schedule", JSON.stringify(plan));
    const priority = form.elements.priority.value.trim();
    if (priority) data.append("priority", priority);
    const rate = chosenRate();
    if (rate) data.append("rate", JSON.stringify({ messages_per_second: rate }));
    const attempts = parseInt(form.elements.max_attempts.value, 10);
    if (Number.isFinite(attempts)) data.append("retry", JSON.stringify({ max_attempts: attempts }));
    const expires = form.elements.expires_at.value;
    if (expires) data.append("expires_at", zonedToIso(expires, timezone.value.trim()));
    if (dry) data.append("dry_run", "true");
    return data;
  }

  /** Sends the import; resolves to the answer's JSON or rejects with an ApiError. */
  async function send(data, key) {
    const headers = { Accept: "application/json", "X-CSRF-Token": csrfToken() };
    if (key) headers["Idempotency-Key"] = key;
    let response;
    try {
      response = await fetch(IMPORT_URL, { method: "POST", headers, body: data, credentials: "same-origin" });
    } catch (e) {
      throw new ApiError(0, "network", String(e));
    }
    const json = await response.json().catch(() => null);
    if (!response.ok) {
      const error = (json && json.error) || {};
      throw new ApiError(response.status, error.code || "http_" + response.status, error.message || response.statusText, error.details || []);
    }
    return json;
  }

  function ready() {
    if (!templateSelect.value || !senderSelect.value) {
      status.textContent = say("no-template");
      return false;
    }
    if (!state.text || !state.records.length || !fieldMapping().phone) {
      status.textContent = say("need-read");
      return false;
    }
    return true;
  }

  function download(reason) {
    const rows = state.report.errors.filter((e) => e.skip_reason === reason);
    const byLine = new Map(state.records.map((r) => [r.line, r]));
    const header = [say("csv-row"), ...state.names.map(columnLabel), say("csv-reason")];
    const lines = [csvLine(header)];
    for (const e of rows) {
      const record = byLine.get(e.row);
      const fields = state.names.map((_, i) => (record ? record.fields[i] ?? "" : ""));
      lines.push(csvLine([e.row, ...fields, e.reason]));
    }
    const blob = new Blob(["\ufeff" + lines.join("\r\n") + "\r\n"], { type: "text/csv;charset=utf-8" });
    const link = element("a", { href: URL.createObjectURL(blob), download: reason + ".csv" });
    document.body.append(link);
    link.click();
    link.remove();
    window.setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  }

  function drawReport(report) {
    const wrap = element("div", { class: "table-wrap", role: "region", "aria-labelledby": "wizard-report-caption", tabindex: "0" });
    const table = element("table", { class: "table wizard__report" });
    table.append(element("caption", { id: "wizard-report-caption" }, say("report-caption")));
    const head = element("tr");
    head.append(element("th", { scope: "col" }, say("reason")));
    head.append(element("th", { scope: "col", class: "num" }, say("count")));
    head.append(element("th", { scope: "col" }, say("download")));
    const thead = element("thead");
    thead.append(head);
    table.append(thead);
    const tbody = element("tbody");
    const row = (label, count, reason) => {
      const tr = element("tr");
      tr.append(element("th", { scope: "row" }, label));
      tr.append(element("td", { class: "num" }, number(count)));
      const cell = element("td");
      if (reason && count > 0) {
        const button = element("button", { type: "button", class: "button button--small", "aria-label": say("download-label", { reason: label }) }, say("download"));
        button.addEventListener("click", () => download(reason));
        cell.append(button);
      }
      tr.append(cell);
      tbody.append(tr);
    };
    row(say("accepted"), report.accepted);
    for (const reason of REASONS) {
      const count = report.skipped[reason];
      if (count === undefined || count === null) continue;
      row(say(reason), count, reason);
    }
    table.append(tbody);
    wrap.append(table);
    reportBox.replaceChildren(wrap);
  }

  function variablesOf(record) {
    const values = {};
    state.names.forEach((name, i) => {
      if (name) values[name] = record.fields[i] ?? "";
    });
    const map = fieldMapping();
    for (const [key, column] of Object.entries(map)) {
      const i = state.names.indexOf(column);
      if (key !== "phone" && i >= 0) values[key] = record.fields[i] ?? "";
    }
    return values;
  }

  async function drawPreviews(report) {
    const skipped = new Set(report.errors.map((e) => e.row));
    const first = state.records.filter((r) => !skipped.has(r.line)).slice(0, PREVIEWS);
    previewBox.replaceChildren();
    if (!first.length) {
      previewBox.append(element("p", { class: "muted" }, say("preview-none")));
      return;
    }
    const url = "/api/v1/templates/" + encodeURIComponent(templateSelect.value) + "/preview";
    for (const record of first) {
      const headers = { Accept: "application/json", "Content-Type": "application/json", "X-CSRF-Token": csrfToken() };
      const response = await fetch(url, { method: "POST", headers, credentials: "same-origin", body: JSON.stringify({ variables: variablesOf(record) }) });
      if (!response.ok) continue;
      const preview = await response.json();
      const bubble = element("figure", { class: "bubble", role: "group", "aria-label": say("preview-of", { row: record.line }) });
      const image = preview.header_image;
      if (typeof image === "string" && image.startsWith("https://")) {
        bubble.append(element("img", { class: "bubble__image", src: image, alt: say("header-image"), loading: "lazy", referrerpolicy: "no-referrer" }));
      }
      bubble.append(element("p", { class: "bubble__text" }, preview.text || ""));
      bubble.append(element("figcaption", { class: "bubble__caption" }, say("preview-of", { row: record.line })));
      previewBox.append(bubble);
    }
  }

  function formatDuration(seconds) {
    seconds = Math.ceil(seconds);
    if (seconds < 60) return number(seconds) + " s";
    const minutes = Math.ceil(seconds / 60);
    if (minutes < 60) return number(minutes) + " min";
    const hours = Math.floor(minutes / 60);
    const rest = minutes % 60;
    return number(hours) + " h" + (rest ? " " + number(rest) + " min" : "");
  }

  /** What the accepted recipients cost by the rate card (`estimated_cost`), in words; "" without a card. */
  function costText(report) {
    const cost = report.estimated_cost;
    if (!cost) return "";
    let amount;
    try {
      amount = new Intl.NumberFormat(lang, { style: "currency", currency: cost.currency, maximumFractionDigits: 4 }).format(cost.amount);
    } catch {
      amount = number(cost.amount, 4) + " " + cost.currency;
    }
    let text = say("cost", { amount });
    if (cost.unpriced > 0) text += " " + say("cost-unpriced", { unpriced: number(cost.unpriced) });
    return text;
  }

  function estimate() {
    if (!state.report) {
      estimateBox.textContent = say("estimate-none");
      return;
    }
    const cost = costText(state.report);
    const option = senderSelect.selectedOptions[0];
    const senderRate = option ? parseFloat(option.dataset.mps) || 0 : 0;
    const limit = option ? parseInt(option.dataset.dailyLimit, 10) || 0 : 0;
    const chosen = chosenRate();
    const rate = chosen && senderRate > 0 ? Math.min(chosen, senderRate) : chosen || senderRate;
    const accepted = state.report.accepted;
    if (!rate) {
      estimateBox.textContent = [say("estimate-none"), cost].filter(Boolean).join(" ");
      return;
    }
    let text = say("estimate", { duration: formatDuration(accepted / rate), rate: number(rate, 1) });
    if (limit > 0 && accepted > limit) {
      text += " " + say("estimate-days", { limit: number(limit), days: number(Math.ceil(accepted / limit)) });
    }
    if (cost) text += " " + cost;
    estimateBox.textContent = text;
  }

  async function validate() {
    if (!ready()) return;
    status.textContent = say("validating");
    try {
      const answer = await send(body(true));
      state.report = answer.import;
      drawReport(state.report);
      const total = state.records.length;
      status.textContent = say("validated", { accepted: number(state.report.accepted), total: number(total) });
      estimate();
      await drawPreviews(state.report);
    } catch (error) {
      status.textContent = describeError(error);
    }
  }

  let sending = false;
  async function create(event) {
    event.preventDefault();
    if (sending || !ready()) return;
    sending = true;
    submit.disabled = true;
    submit.setAttribute("aria-busy", "true");
    status.textContent = say("creating");
    try {
      const created = await send(body(false), form.dataset.idempotencyKey);
      status.textContent = say("created");
      window.location.assign("/campaigns/" + encodeURIComponent(created.id));
      return;
    } catch (error) {
      status.textContent = describeError(error);
      // The server keeps a refusal under its key: what is sent after a correction is a
      // new request. A network failure or a server error keeps the key, so a retry of
      // what may have been created is answered with it.
      if (error instanceof ApiError && error.status >= 400 && error.status < 500 && error.status !== 409) {
        form.dataset.idempotencyKey = freshKey();
      }
    }
    sending = false;
    submit.disabled = false;
    submit.removeAttribute("aria-busy");
  }

  $("[data-wizard-read]").addEventListener("click", read);
  fileInput.addEventListener("change", read);
  separatorSelect.addEventListener("change", () => state.text !== null && read());
  headerSelect.addEventListener("change", () => state.text !== null && read());
  templateSelect.addEventListener("change", () => {
    drawMapping();
    clearChecks();
  });
  senderSelect.addEventListener("change", estimate);
  form.elements.rate.addEventListener("input", estimate);
  $("[data-wizard-validate]").addEventListener("click", validate);
  form.addEventListener("submit", create);
  estimate();
}
