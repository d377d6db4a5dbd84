// The templates and senders pages' behaviours (templates/templates.html, senders.html).
//
// (Their forms[data-api-form] are sent by forms.js, like every page's.)
// - select[data-provider-switch]: shows only the fieldset[data-provider] of the chosen
//   provider; the hidden ones are disabled, so their fields are not sent.
// - form[data-preview-url]: asks the API to render the template with the values typed in,
//   and writes the text into the bubble as text (never as HTML).
// - button[data-test-url]: runs a sender's connection test and says the answer in the
//   element named by data-test-output, whose data-msg-* hold the words.

import { announce, callApi, describeError } from "./api.js";

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
  for (const form of root.querySelectorAll("form[data-preview-url]")) wirePreview(form);
  for (const button of root.querySelectorAll("button[data-test-url]")) wireTest(button);
}
