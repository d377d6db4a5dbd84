// Forms that call pregon's API (wired by app.js), so that a page needs no script of its own.
//
//   <form data-api-form="/api/v1/opt-outs" data-api-method="POST" data-api-then="reload">
//
// - Each named field becomes a key of a JSON body (formBody); empty fields are left out.
//   data-json="number" sends a number, data-json="pairs" reads lines `name=value` into an
//   object, data-json="datetime" sends a datetime-local value as RFC 3339. With data-api-encoding="multipart" the form is sent as it is (files too).
// - The API's 422 details ({"field", "reason"}) mark their field aria-invalid and write the
//   reason into the field's [data-error-for="name"] element; other errors are announced.
// - data-api-then="reload" reloads after success; a path ("/senders") goes there; "show" fills [data-result-field="key"]
//   elements inside the form's [data-api-result] (shown once, e.g. a new API key) and
//   reveals it; anything else announces "done" and resets the form.
// - [data-copy-from="id"] buttons copy that element's text to the clipboard.

import { announce, callApi, describeError } from "./api.js";

/**
 * The JSON body of `form`: its named fields, empty ones left out, `a.b` names nested,
 * `type=number` fields and data-json="number" as numbers, checkboxes as booleans, and
 * the fields of disabled fieldsets not sent (the browser disables their elements).
 */
export function formBody(form) {
  const body = {};
  for (const field of form.elements) {
    if (!field.name || field.disabled || field.type === "submit" || field.type === "button") continue;
    if (field.type === "radio" && !field.checked) continue;
    let value;
    if (field.type === "checkbox") {
      value = field.checked;
    } else {
      const raw = field.tagName === "TEXTAREA" && !field.dataset.json ? field.value : field.value.trim();
      if (raw.trim() === "") continue;
      value = typed(field, raw);
    }
    const path = field.name.split(".");
    let target = body;
    for (const key of path.slice(0, -1)) {
      target[key] = target[key] || {};
      target = target[key];
    }
    target[path[path.length - 1]] = value;
  }
  return body;
}

/** A field's text as the API takes it (data-json, or the input's type). */
function typed(field, raw) {
  const kind = field.dataset.json || (field.type === "number" ? "number" : "");
  if (kind === "number") return Number(raw);
  if (kind === "bool") return raw === "true";
  if (kind === "datetime") {
    // A datetime-local value is the browser's local time: sent as RFC 3339 in UTC.
    const at = new Date(raw);
    return Number.isNaN(at.getTime()) ? raw : at.toISOString();
  }
  if (kind === "pairs") {
    const pairs = {};
    for (const line of raw.split(/\r?\n/)) {
      const at = line.indexOf("=");
      if (at > 0) pairs[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    }
    return pairs;
  }
  return raw;
}

function clearErrors(form) {
  for (const field of form.querySelectorAll("[aria-invalid]")) field.removeAttribute("aria-invalid");
  for (const slot of form.querySelectorAll("[data-error-for]")) slot.textContent = "";
}

/** Marks the fields the API named; true when at least one was found. */
function showFieldErrors(form, details) {
  let shown = false;
  for (const detail of details || []) {
    if (!detail || typeof detail.field !== "string") continue;
    // `credentials.access_token`, then `credentials`: the closest field the form has.
    const names = [detail.field, detail.field.split(/[.[]/)[0]];
    const name = names.find((n) => form.querySelector(`[name="${CSS.escape(n)}"], [data-error-for="${CSS.escape(n)}"]`));
    if (!name) continue;
    const field = form.querySelector(`[name="${CSS.escape(name)}"]`);
    const slot = form.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
    if (slot) slot.textContent = String(detail.reason ?? "");
    if (field) field.setAttribute("aria-invalid", "true");
    if (!shown) (field || slot).focus?.();
    shown = true;
  }
  return shown;
}

function showResult(form, data) {
  const box = form.querySelector("[data-api-result]");
  if (!box) return;
  for (const slot of box.querySelectorAll("[data-result-field]")) {
    const value = data ? data[slot.dataset.resultField] : undefined;
    slot.textContent = value === undefined || value === null ? "" : String(value);
  }
  box.hidden = false;
  const focus = box.querySelector("[data-result-focus]") || box;
  if (focus.focus) focus.focus();
}

/** Wires every form[data-api-form] and [data-copy-from] button under `root`. */
export function wireApiForms(root) {
  for (const form of root.querySelectorAll("form[data-api-form]")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (form.getAttribute("aria-busy") === "true") return;
      clearErrors(form);
      form.setAttribute("aria-busy", "true");
      const submit = form.querySelector('[type="submit"]');
      if (submit) submit.disabled = true;
      try {
        const body = form.dataset.apiEncoding === "multipart" ? new FormData(form) : formBody(form);
        const data = await callApi(form.dataset.apiMethod || "POST", form.dataset.apiForm, body);
        const then = form.dataset.apiThen;
        if (then === "reload") {
          window.location.reload();
          return;
        }
        if (then && then.startsWith("/")) {
          window.location.assign(then);
          return;
        }
        if (then === "show") {
          showResult(form, data);
        } else {
          form.reset();
        }
        const region = document.getElementById("announcer");
        announce(form.dataset.apiDone || (region && region.dataset.msgDone) || "OK");
      } catch (error) {
        if (!showFieldErrors(form, error.details)) form.querySelector("input, select, textarea")?.focus();
        announce(describeError(error), "error");
      } finally {
        form.removeAttribute("aria-busy");
        if (submit) submit.disabled = false;
      }
    });
  }
  for (const button of root.querySelectorAll("[data-copy-from]")) {
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copyFrom);
      if (!source) return;
      try {
        await navigator.clipboard.writeText(source.textContent || "");
        announce(button.dataset.copyDone || "OK");
      } catch {
        // No clipboard (an insecure origin): select the text so the person can copy it.
        const range = document.createRange();
        range.selectNodeContents(source);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
      }
    });
  }
}
