// A campaign's detail page, /campaigns/{id}, against the real pregon and the provider
// simulator: start it and watch its counts change with no reload, pause, resume, see its
// failures grouped by provider code, retry them, export its messages, and what a viewer
// sees; accessible in both languages. Elements are found by role and accessible name.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";

import { openBrowser, screenshot, seriousA11yViolations } from "../lib/browser.mjs";
import { OWNER, signIn, startPregon, startSimulator } from "../lib/pregon.mjs";

const FAILING = ["+593990000001", "+593990000002"];
const TOTAL = 24;

let pregon;
let simulator;
let campaignId;

/** TOTAL contacts, the first two of them failing at the simulator. */
function contacts() {
  const list = FAILING.map((phone) => ({ phone, nombre: "Falla" }));
  for (let i = list.length; i < TOTAL; i++) {
    list.push({ phone: `+5939910000${String(i).padStart(2, "0")}`, nombre: `Cliente ${i}` });
  }
  return list;
}

async function api(method, path, body) {
  const reply = await pregon.api(method, path, body);
  if (reply.status >= 300) throw new Error(`${method} ${path}: ${reply.status} ${JSON.stringify(reply.body)}`);
  return reply.body;
}

before(async () => {
  pregon = await startPregon();
  simulator = await startSimulator({
    webhookUrl: `${pregon.url}/webhooks/meta`,
    args: ["--fail-numbers", FAILING.join(",")],
  });
  // Slow enough to watch it go, and to pause it halfway.
  const sender = await api("POST", "/api/v1/senders", simulator.sender({ messages_per_second: 2 }));
  const template = await api("POST", "/api/v1/templates", {
    name: "aviso",
    language: "es",
    body: "Hola {{nombre}}, tenemos novedades.",
  });
  const campaign = await api("POST", "/api/v1/campaigns", {
    name: "Promo <b>diciembre</b>",
    sender_id: sender.id,
    template_id: template.id,
    contacts: contacts(),
    start: false,
  });
  campaignId = campaign.id;
});

after(async () => {
  await simulator?.stop();
  await pregon?.stop();
});

async function withBrowser({ as = OWNER, locale = "es-EC" } = {}, fn) {
  const browser = await openBrowser({ locale });
  try {
    await signIn(browser.page, pregon, as, `/campaigns/${campaignId}`);
    return await fn(browser);
  } finally {
    await browser.close();
  }
}

/** The number a count of the header shows ("Enviados" → 12). */
async function count(page, name) {
  const term = page.getByRole("term").filter({ hasText: new RegExp(`^${name}$`) });
  const text = await term.locator("xpath=following-sibling::dd[1]").textContent();
  return Number(text.replace(/[.,\s]/g, ""));
}

/** Polls `check` until it holds, failing with `what` after `timeout` ms. */
async function until(what, check, timeout = 30_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((ok) => setTimeout(ok, 200));
  }
}

/** The header's state badge says `word`; failing, says what the API says of the campaign. */
async function state(page, word, timeout = 30_000) {
  try {
    await page.getByRole("region", { name: /^Promo/ }).getByText(word, { exact: true }).waitFor({ timeout });
  } catch (error) {
    const campaign = await pregon.api("GET", `/api/v1/campaigns/${campaignId}`);
    await screenshot(page, "detail-failed");
    throw new Error(`the page never said ${word}; the API: ${JSON.stringify(campaign.body)}\n${error.message}`);
  }
}

/** Presses an action button; resolves once the API answered and the page reloaded. */
async function act(page, name, { confirm = false } = {}) {
  const answered = page.waitForResponse((r) => r.url().includes(`/api/v1/campaigns/${campaignId}/`) && r.request().method() === "POST");
  const reloaded = page.waitForEvent("load");
  // Awaited below; a failure before then must not also surface as an unhandled rejection.
  reloaded.catch(() => {});
  await page.getByRole("button", { name, exact: true }).click();
  if (confirm) {
    const dialog = page.getByRole("dialog");
    await dialog.waitFor();
    await dialog.getByRole("button", { name: /^(Sí, continuar|Yes, continue)$/ }).click();
  }
  const response = await answered;
  assert.equal(response.status(), 200, `${name} answered ${response.status()}`);
  await reloaded;
}

test("start, watch the counts change with no reload, pause, resume, failures, retry, export", async () => {
  await withBrowser({}, async ({ page }) => {
    await page.getByRole("heading", { level: 1, name: "Promo <b>diciembre</b>" }).waitFor();
    await state(page, "Borrador");
    assert.equal(await count(page, "Enviados"), 0);
    assert.equal(await count(page, "En cola"), TOTAL);
    assert.deepEqual(
      await seriousA11yViolations(page),
      [],
      "a draft's detail page has no serious accessibility problem",
    );

    await act(page, "Empezar");
    // From here on, no reload: a mark on the window survives only without one.
    await page.evaluate(() => {
      window.__sameDocument = true;
    });
    await until("a message sent", async () => (await count(page, "Enviados")) + (await count(page, "Entregados")) + (await count(page, "Leídos")) > 0);
    await state(page, "Enviando");
    assert.ok(await page.evaluate(() => window.__sameDocument === true), "the counts changed with no reload");

    await act(page, "Pausar");
    await state(page, "En pausa");
    await page.getByText("En pausa por una persona").waitFor();
    await page.getByRole("button", { name: "Reanudar", exact: true }).waitFor();
    assert.equal(await page.getByRole("button", { name: "Pausar", exact: true }).count(), 0);

    await act(page, "Reanudar");
    await page.evaluate(() => {
      window.__sameDocument = true;
    });
    await state(page, "Completada", 60_000);
    assert.ok(await page.evaluate(() => window.__sameDocument === true), "completion arrived live");

    // Failures grouped by the provider's code, in words.
    await page.reload();
    const failures = page.getByRole("table", { name: "Mensajes fallidos agrupados por código de error" });
    const row = failures.getByRole("row", { name: /131026/ });
    await row.waitFor();
    assert.equal(await row.getByRole("cell").nth(0).textContent(), "2");
    await row.getByText("Permanente: este mensaje no pasará").waitFor();
    assert.equal(await count(page, "Fallidos"), 2);
    const sent = await count(page, "Enviados");
    const delivered = await count(page, "Entregados");
    const read = await count(page, "Leídos");
    assert.equal(sent + delivered + read, TOTAL - 2);

    // A failed message's timeline, opened by keyboard.
    const messages = page.getByRole("table", { name: "Mensajes de la campaña" });
    const summary = messages.getByText(`Historial de ${FAILING[0]}`);
    await summary.focus();
    await page.keyboard.press("Enter");
    await messages.getByRole("listitem").filter({ hasText: "131026" }).first().waitFor();

    // Search by phone.
    await page.getByRole("searchbox", { name: "Teléfono" }).fill(FAILING[1]);
    await page.getByRole("button", { name: "Buscar", exact: true }).click();
    await page.waitForURL(/phone=/);
    assert.equal(await messages.getByRole("row").count(), 2, "the header and the one message");
    await messages.getByRole("rowheader", { name: FAILING[1] }).waitFor();

    // Retry failed: asked first, then the failed go back to the queue (and fail again).
    await act(page, "Reintentar los fallidos", { confirm: true });
    await state(page, "Completada");

    // Export: the link downloads the CSV with the session cookie alone.
    const download = page.waitForEvent("download");
    await page.getByRole("link", { name: "Exportar CSV" }).click();
    const csv = readFileSync(await (await download).path(), "utf8");
    const lines = csv.trim().split("\n");
    assert.ok(lines[0].startsWith("phone,status,"), lines[0]);
    assert.equal(lines.length, TOTAL + 1);
    assert.ok(lines.some((l) => l.startsWith(`${FAILING[0]},failed,`)), csv);

    assert.deepEqual(await seriousA11yViolations(page), [], "the finished page is accessible");
    await screenshot(page, "detail-es");
  });
});

test("in English, with the same page", async () => {
  await withBrowser({ locale: "en-US" }, async ({ page }) => {
    await page.getByRole("heading", { level: 2, name: "Failures by provider code" }).waitFor();
    await page.getByRole("heading", { level: 2, name: "Funnel" }).waitFor();
    await page.getByRole("link", { name: "Export CSV" }).waitFor();
    await page.getByRole("table", { name: "Failed messages grouped by error code" }).getByText("Permanent: this message will not go through").waitFor();
    assert.deepEqual(await seriousA11yViolations(page), []);
    await screenshot(page, "detail-en");
  });
});

test("a viewer sees no action buttons, and the API refuses its POST", async () => {
  const viewer = await pregon.createUser("viewer");
  await withBrowser({ as: viewer }, async ({ page }) => {
    await page.getByRole("heading", { level: 1, name: "Promo <b>diciembre</b>" }).waitFor();
    const actions = page.getByRole("region", { name: "Acciones" });
    assert.equal(await actions.getByRole("button").count(), 0);
    await page.getByText("Su rol solo permite ver esta campaña.").waitFor();
    await actions.getByRole("link", { name: "Exportar CSV" }).waitFor();
    const status = await page.evaluate(async (id) => {
      const token = document.querySelector('meta[name="csrf-token"]').content;
      const r = await fetch(`/api/v1/campaigns/${id}/retry`, { method: "POST", headers: { "X-CSRF-Token": token } });
      return r.status;
    }, campaignId);
    assert.equal(status, 403);
    assert.deepEqual(await seriousA11yViolations(page), []);
  });
});
