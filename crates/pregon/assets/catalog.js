// The templates and senders pages' behaviours (templates/templates.html, senders.html).
//
// - form[data-api-form="/api/v1/…"] with data-api-method: sends its fields as JSON
//   (apiBody()), writes each refusal of the API beside its field ([data-error-for="field"],
//   the field marked aria-invalid), and on success reloads (data-api-then="reload") or goes
//   to data-api-then's path.
// - select[data-provider-switch]: shows only the fieldset[data-provider] of the chosen
//   provider; the hidden ones are disabled, so their fields are not sent.
// - form[data-preview-url]: asks the API to render the template with the values typed in,
//   and writes the text into the bubble as text (never as HTML).
// - button[data-test-url]: runs a sender's connection test and says the answer in the
//   element named by data-test-output, whose data-msg-* hold the words.

import { announce, callApi, describeError, ApiError } from "./api.js";

/** The JSON body of a form: empty fields left out, `a.b` names nested, numbers as numbers,
 * checkboxes as booleans; the fields of disabled fieldsets are not sent. */
export function apiBody(form) {
  const body = {};
  for (const el of form.elements) {
    if (!el.name || el.disabled || el.type === "submit" || el.type === "button") continue;
    let value;
    if (el.type === "checkbox") {
      value = el.checked;
    } else {
      const text = el.value.trim();
      if (text === "") continue;
      value = el.type === "number" ? Number(text) : el.type === "textarea" ? el.value : text;
    }
    const path = el.name.split(".");
    let target = body;
    for (const key of path.slice(0, -1)) {
      target[key] = target[key] || {};
      target = target[key];
    }
    target[path[path.length - 1]] = value;
  }
  return body;
}

function clearErrors(form) {
  for (const p of form.querySelectorAll("[data-error-for]")) p.textContent = "";
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
}

/** Writes the API's refusal beside its field; false when no field of the form is named. */
function showFieldErrors(form, error) {
  let first = null;
  for (const detail of (error instanceof ApiError && error.details) || []) {
    if (!detail || typeof detail.field !== "string") continue;
    const slot = form.querySelector(`[data-error-for="${CSS.escape(detail.field)}"]`);
    if (!slot) continue;
    slot.textContent = detail.reason || error.message;
    const input = form.querySelector(`[name="${CSS.escape(detail.field)}"]`);
    if (input) {
      input.setAttribute("aria-invalid", "true");
      first = first || input;
    }
    first = first || slot;
  }
  if (first && typeof first.focus === "function") first.focus();
  return first !== null;
}

function wireApiForm(form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const submit = form.querySelector('[type="submit"]');
    if (form.getAttribute("aria-busy") === "true") return;
    form.setAttribute("aria-busy", "true");
    if (submit) submit.disabled = true;
    clearErrors(form);
    try {
      await callApi(form.dataset.apiMethod || "POST", form.dataset.apiForm, apiBody(form));
      const then = form.dataset.apiThen || "reload";
      if (then === "reload") window.location.reload();
      else window.location.assign(then);
    } catch (error) {
      const placed = showFieldErrors(form, error);
      announce(describeError(error), "error");
      if (!placed) form.querySelector("input, select, textarea")?.focus();
    } finally {
      form.removeAttribute("aria-busy");
      if (submit) submit.disabled = false;
    }
  });
}

function wireProviderSwitch(select) {
  const form = select.form;
  const apply = () => {
    for (const set of form.querySelectorAll("fieldset[data-provider]")) {
      const on = set.dataset.provider === select.value;
      set.hidden = !on;
      set.disabled = !on;
    }
  };
  select.addEventListener("change", apply);
  apply();
}

function wirePreview(form) {
  const section = form.closest("section") || document;
  const bubble = section.querySelector("[data-preview-bubble]");
  const text = section.querySelector("[data-preview-text]");
  const header = section.querySelector("[data-preview-header]");
  const missing = section.querySelector("[data-preview-missing]");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const variables = {};
    for (const el of form.elements) {
      if (el.name && el.type !== "submit") variables[el.name] = el.value;
    }
    try {
      const result = await callApi("POST", form.dataset.previewUrl, { variables });
      text.textContent = result.text;
      if (header) header.textContent = result.header_image || "";
      bubble.hidden = false;
      const names = result.missing_variables || [];
      missing.textContent = names.length ? missing.dataset.msgMissing.replace("{names}", names.join(", ")) : "";
    } catch (error) {
      announce(describeError(error), "error");
    }
  });
}

function testWords(output, result, name) {
  const words = (key, value) => (output.dataset[key] || "").replace("{value}", value);
  if (result.ok) {
    const facts = [];
    if (result.quality) facts.push(words("msgQuality", result.quality));
    if (result.messaging_tier) facts.push(words("msgTier", result.messaging_tier));
    if (result.templates !== null && result.templates !== undefined) facts.push(words("msgTemplates", result.templates));
    return output.dataset.msgOk.replace("{name}", name).replace("{facts}", facts.join(" ")).trim();
  }
  const reasons = (result.checks || [])
    .filter((c) => !c.ok)
    .map((c) => [c.code, c.detail].filter(Boolean).join(": "));
  return output.dataset.msgFailed.replace("{name}", name).replace("{reason}", reasons.join("; "));
}

function wireTest(button) {
  button.addEventListener("click", async () => {
    const output = document.getElementById(button.dataset.testOutput);
    if (!output || button.getAttribute("aria-busy") === "true") return;
    const name = button.dataset.testName || "";
    button.setAttribute("aria-busy", "true");
    button.disabled = true;
    output.dataset.kind = "info";
    output.textContent = output.dataset.msgRunning.replace("{name}", name);
    try {
      const result = await callApi("POST", button.dataset.testUrl);
      output.dataset.kind = result.ok ? "ok" : "error";
      output.textContent = testWords(output, result, name);
    } catch (error) {
      output.dataset.kind = "error";
      output.textContent = describeError(error);
    } finally {
      button.removeAttribute("aria-busy");
      button.disabled = false;
    }
  });
}

/** Wires the templates and senders pages' forms and buttons under `root`. */
export function wireCatalog(root) {
  for (const select of root.querySelectorAll("select[data-provider-switch]")) wireProviderSwitch(select);
  for (const form of root.querySelectorAll("form[data-api-form]")) wireApiForm(form);
  for (const form of root.querySelectorAll("form[data-preview-url]")) wirePreview(form);
  for (const button of root.querySelectorAll("button[data-test-url]")) wireTest(button);
}
