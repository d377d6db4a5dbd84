// Calling pregon's API from a console page, and telling the person what happened.
//
// callApi() sends the session's CSRF token (from <meta name="csrf-token">) as
// X-CSRF-Token on every request that changes something, and turns the API's error shape,
// {"error": {"code", "message", "details"}}, into an ApiError. announce() writes into the
// page's aria-live region (#announcer), whose data-msg-* attributes hold the words in
// the page's language.
//
// Wired by attributes (see app.js): a <button data-api-url="/api/v1/…" data-api-method="POST">
// calls the API when pressed; data-confirm="…" asks first (confirm.js); data-api-body
// holds a JSON body; data-api-then="reload" reloads the page after success, otherwise the
// region says "done".

import { confirmAction } from "./confirm.js";

/** An error answered by the API, or a network failure (status 0). */
export class ApiError extends Error {
  constructor(status, code, message, details = []) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** The CSRF token of this page's session ("" before sessions exist). */
export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.getAttribute("content") || "" : "";
}

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Calls the API. Resolves to the parsed JSON body (or null when there is none); rejects
 * with an ApiError.
 */
export async function callApi(method, url, body) {
  method = method.toUpperCase();
  const headers = { Accept: "application/json" };
  const token = csrfToken();
  if (!SAFE.has(method) && token) headers["X-CSRF-Token"] = token;
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined && body !== null) {
    if (body instanceof FormData) {
      init.body = body;
    } else {
      headers["Content-Type"] = "application/json";
      init.body = typeof body === "string" ? body : JSON.stringify(body);
    }
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (e) {
    throw new ApiError(0, "network", String(e));
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) {
    const error = data && typeof data === "object" && data.error ? data.error : {};
    throw new ApiError(
      response.status,
      error.code || "http_" + response.status,
      error.message || response.statusText,
      error.details || [],
    );
  }
  return data;
}

/** Says `text` in the page's live region; `kind` "error" colours it as one. */
export function announce(text, kind = "info") {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.dataset.kind = kind;
  // Emptied first, so the same words said twice are announced twice.
  region.textContent = "";
  window.setTimeout(() => {
    region.textContent = text;
  }, 30);
}

/** The words for an error, in the page's language. */
export function describeError(error) {
  const region = document.getElementById("announcer");
  const words = (name, fallback) => (region && region.dataset[name]) || fallback;
  if (error instanceof ApiError && error.status === 0) {
    return words("msgNetwork", "The server cannot be reached.");
  }
  const reason = error && error.message ? error.message : String(error);
  return words("msgError", "{reason}").replace("{reason}", reason);
}

/** Wires every [data-api-url] button under `root`. */
export function wireApiActions(root) {
  for (const button of root.querySelectorAll("[data-api-url]")) {
    button.addEventListener("click", async (event) => {
      event.preventDefault();
      if (button.getAttribute("aria-busy") === "true") return;
      const question = button.dataset.confirm;
      if (question && !(await confirmAction(question))) return;
      button.setAttribute("aria-busy", "true");
      button.disabled = true;
      try {
        await callApi(button.dataset.apiMethod || "POST", button.dataset.apiUrl, button.dataset.apiBody);
        if (button.dataset.apiThen === "reload") {
          window.location.reload();
          return;
        }
        const region = document.getElementById("announcer");
        announce(button.dataset.apiDone || (region && region.dataset.msgDone) || "OK");
      } catch (error) {
        announce(describeError(error), "error");
      } finally {
        button.removeAttribute("aria-busy");
        button.disabled = false;
      }
    });
  }
}
