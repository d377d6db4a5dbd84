// The console's own ES modules in the browser, under the page's real policy: the
// confirmation dialog by keyboard, API calls with the CSRF token and their errors spoken
// in the live region, and live updates coalesced. The pages that will use them are still
// to come, so each test adds the markup a page would render, then acts as a person would,
// finding elements by role and accessible name.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { cspViolations, openBrowser, screenshot } from "../lib/browser.mjs";
import { signIn, startPregon } from "../lib/pregon.mjs";

let pregon;

before(async () => {
  pregon = await startPregon();
});

after(async () => {
  await pregon?.stop();
});

/**
 * Signs the owner in, in a fresh browser, and runs fn({ page, problems, modules }) on `/`,
 * where modules.api etc. are the hashed URLs the page loaded its modules from.
 */
async function onConsole(locale, fn) {
  const browser = await openBrowser({ locale });
  try {
    const modules = {};
    browser.page.on("response", (response) => {
      const match = new URL(response.url()).pathname.match(/^\/assets\/(\w+)\.[0-9a-f]{10}\.js$/);
      if (match) modules[match[1]] = response.url();
    });
    await signIn(browser.page, pregon);
    const response = await browser.page.goto(`${pregon.url}/`);
    assert.equal(response.status(), 200);
    await browser.page.waitForLoadState("networkidle");
    for (const name of ["app", "api", "confirm", "live"]) assert.ok(modules[name], `${name}.js loaded`);
    return await fn({ ...browser, modules });
  } finally {
    await browser.close();
  }
}

/** Adds `html` (our own fixed markup) at the end of <main> and wires it with `wire` from `module`. */
async function addMarkup(page, html, module, wire) {
  await page.evaluate(
    async ({ html, module, wire }) => {
      const section = document.createElement("section");
      section.setAttribute("aria-label", "fixture");
      section.innerHTML = html;
      document.querySelector("main").append(section);
      if (module) (await import(module))[wire](section);
    },
    { html, module, wire },
  );
}

const isFocused = (locator) => locator.evaluate((element) => element === document.activeElement);

test("a destructive action asks first, in a dialog operated by keyboard", async () => {
  await onConsole("es-EC", async ({ page, modules, problems }) => {
    await addMarkup(
      page,
      `<button type="button" data-api-url="/api/v1/campaigns/c1/cancel" data-confirm="¿Cancelar la campaña «Promo»? Los mensajes en cola no se enviarán.">Cancelar campaña</button>`,
      modules.api,
      "wireApiActions",
    );
    const requests = [];
    page.on("request", (request) => {
      if (request.url().includes("/api/v1/")) requests.push(request);
    });
    const action = page.getByRole("button", { name: "Cancelar campaña" });
    const dialog = page.getByRole("dialog", { name: "¿Confirmas esta acción?" });

    // Escape cancels: nothing is sent, and focus goes back to the button.
    await action.focus();
    await page.keyboard.press("Enter");
    await dialog.waitFor();
    await dialog.getByText("¿Cancelar la campaña «Promo»? Los mensajes en cola no se enviarán.").waitFor();
    assert.ok(await isFocused(dialog.getByRole("button", { name: "Cancelar", exact: true })), "focus starts on Cancel");
    console.log(`screenshot: ${await screenshot(page, "confirm-es")}`);
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });
    assert.ok(await isFocused(action), "focus returns to the action");
    assert.equal(requests.length, 0, "cancelled: nothing sent");

    // Confirming sends it; the API refuses (there is no such campaign), and the page says why.
    await page.keyboard.press("Enter");
    await dialog.waitFor();
    await page.keyboard.press("Tab");
    assert.ok(await isFocused(dialog.getByRole("button", { name: "Sí, continuar" })));
    const sent = page.waitForRequest("**/api/v1/campaigns/c1/cancel");
    await page.keyboard.press("Enter");
    const request = await sent;
    assert.equal(request.method(), "POST");
    const status = page.getByRole("status");
    await status.getByText("No se pudo completar: campaign not found", { exact: false }).waitFor();
    assert.deepEqual(
      problems.filter((p) => !p.includes("404")),
      [],
      "no problem but the expected 404 (and its console line)",
    );
  });
});

test("a close left over from an earlier question does not answer the next one", async () => {
  await onConsole("es-EC", async ({ page, modules }) => {
    await addMarkup(
      page,
      `<button type="button" data-api-url="/api/v1/campaigns/c2/cancel" data-confirm="¿Cancelar?">Cancelar otra</button>`,
      modules.api,
      "wireApiActions",
    );
    const action = page.getByRole("button", { name: "Cancelar otra" });
    const dialog = page.getByRole("dialog", { name: "¿Confirmas esta acción?" });
    await action.focus();
    await page.keyboard.press("Enter");
    await dialog.waitFor();
    // What a busy browser does when the dialog is reopened before the earlier close's task
    // runs: a `close` event arrives while the dialog is open again.
    await page.evaluate(() => document.getElementById("confirm-dialog").dispatchEvent(new Event("close")));
    assert.ok(await dialog.isVisible(), "still asking");
    await page.keyboard.press("Tab");
    assert.ok(await isFocused(dialog.getByRole("button", { name: "Sí, continuar" })));
    const sent = page.waitForRequest("**/api/v1/campaigns/c2/cancel");
    await page.keyboard.press("Enter");
    assert.equal((await sent).method(), "POST", "the confirmation still sends it");
  });
});

test("API calls carry the session's CSRF token and JSON body", async () => {
  await onConsole("en-US", async ({ page, modules }) => {
    const token = await page.evaluate(() => document.querySelector('meta[name="csrf-token"]').content);
    assert.match(token, /^[0-9a-f]{64}$/, "the page carries its session's token");
    let sent = page.waitForRequest("**/api/v1/campaigns/c2/retry");
    const withToken = await page.evaluate(async (api) => {
      const { callApi, ApiError } = await import(api);
      try {
        await callApi("POST", "/api/v1/campaigns/c2/retry", { include_unknown: true });
        return "resolved";
      } catch (error) {
        return { isApiError: error instanceof ApiError, status: error.status, code: error.code };
      }
    }, modules.api);
    assert.equal((await (await sent).allHeaders())["x-csrf-token"], token);
    assert.deepEqual(withToken, { isApiError: true, status: 404, code: "not_found" }, "past the CSRF check");

    // A forged token is refused before anything happens.
    await page.evaluate(() => document.querySelector('meta[name="csrf-token"]').setAttribute("content", "tok-123"));
    sent = page.waitForRequest("**/api/v1/campaigns/c2/retry");
    const outcome = await page.evaluate(async (api) => {
      const { callApi, ApiError } = await import(api);
      try {
        await callApi("POST", "/api/v1/campaigns/c2/retry", { include_unknown: true });
        return "resolved";
      } catch (error) {
        return { isApiError: error instanceof ApiError, status: error.status, code: error.code };
      }
    }, modules.api);
    const request = await sent;
    const headers = await request.allHeaders();
    assert.equal(headers["x-csrf-token"], "tok-123");
    assert.equal(headers["content-type"], "application/json");
    assert.deepEqual(JSON.parse(request.postData()), { include_unknown: true });
    assert.deepEqual(outcome, { isApiError: true, status: 403, code: "csrf" });

    // A GET sends no token.
    const read = page.waitForRequest("**/api/v1/system");
    await page.evaluate(async (api) => (await import(api)).callApi("GET", "/api/v1/system").catch(() => null), modules.api);
    assert.equal((await (await read).allHeaders())["x-csrf-token"], undefined);
  });
});

test("live updates fill fields in the page's language and are coalesced", async () => {
  await onConsole("es-EC", async ({ page, modules }) => {
    // What a campaign row will render; the stream is answered by the test.
    await page.route("**/test/events", (route) =>
      route.fulfill({
        status: 200,
        headers: { "content-type": "text/event-stream", "cache-control": "no-store" },
        body:
          Array.from({ length: 20 }, (_, i) =>
            `event: progress\ndata: ${JSON.stringify({
              status: i < 19 ? "running" : "paused",
              counts: { sent: 1215 + i },
              progress_percent: 40 + i / 2,
            })}\n\n`,
          ).join("") + "retry: 60000\n\n",
      }),
    );
    await page.evaluate(async (live) => {
      const { subscribe } = await import(live);
      window.__updates = [];
      window.__close = subscribe("/test/events", (data) => window.__updates.push(data));
    }, modules.live);
    await page.waitForFunction(() => window.__updates.length > 0);
    await page.waitForTimeout(600);
    const updates = await page.evaluate(() => {
      window.__close();
      return window.__updates;
    });
    assert.equal(updates.length, 1, `20 events at once make one update: ${JSON.stringify(updates)}`);
    assert.equal(updates[0].counts.sent, 1234, "the newest one");

    await addMarkup(
      page,
      `<p>Enviados: <span data-live-field="counts.sent" data-live-format="number">0</span></p>
       <p><span class="badge" data-tone="info" data-live-field="status"
           data-live-labels='{"running":"Enviando","paused":"En pausa"}'
           data-live-tones='{"running":"info","paused":"warn"}'>Enviando</span></p>
       <progress max="100" value="0" aria-label="Progreso de Promo" data-live-value="progress_percent"></progress>`,
      null,
      null,
    );
    await page.evaluate(
      async (live) =>
        (await import(live)).apply(document.querySelector('[aria-label="fixture"]'), {
          status: "paused",
          counts: { sent: 1234 },
          progress_percent: 43.5,
        }),
      modules.live,
    );
    const fixture = page.getByRole("region", { name: "fixture" });
    await fixture.getByText("1.234", { exact: true }).waitFor();
    const badge = fixture.getByText("En pausa", { exact: true });
    assert.equal(await badge.getAttribute("data-tone"), "warn");
    const bar = page.getByRole("progressbar", { name: "Progreso de Promo" });
    assert.equal(await bar.evaluate((el) => el.value), 43.5);
    assert.deepEqual(await cspViolations(page), []);
  });
});
