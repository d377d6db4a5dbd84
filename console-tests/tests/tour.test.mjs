// A tour of every page with real data, in Spanish, as a business sees it after its first
// campaigns: a simulator sender, templates, two campaigns (one finished with failures, one
// paused), replies, opt-outs, a scheduled message. Each page answers 200, has no console
// error or CSP violation, and axe-core finds nothing serious or critical with the data on
// it; a screenshot of each goes to PREGON_SCREENSHOTS (the README's come from here).

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { cspViolations, openBrowser, screenshot, seriousA11yViolations } from "../lib/browser.mjs";
import { signIn, startPregon, startSimulator } from "../lib/pregon.mjs";

let pregon;
let simulator;
const ids = {};

async function api(method, path, body) {
  const reply = await pregon.api(method, path, body);
  if (reply.status >= 300) throw new Error(`${method} ${path}: ${reply.status} ${JSON.stringify(reply.body)}`);
  return reply.body;
}

async function until(what, check, timeout = 60_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  pregon = await startPregon();
  const failing = ["+593990000001", "+593990000002", "+593990000003"];
  simulator = await startSimulator({
    webhookUrl: `${pregon.url}/webhooks/meta`,
    args: ["--fail-numbers", failing.join(",")],
  });
  const sender = await api("POST", "/api/v1/senders", {
    ...simulator.sender({ messages_per_second: 20 }),
    name: "Ventas Quito",
    daily_limit: 1000,
  });
  ids.sender = sender.id;
  const template = await api("POST", "/api/v1/templates", {
    name: "promo_fibra",
    language: "es",
    category: "marketing",
    body: "Hola {{nombre}}, tu plan de fibra de {{velocidad}} ya está disponible.",
  });
  await api("POST", "/api/v1/templates", {
    name: "recordatorio_pago",
    language: "es",
    category: "utility",
    body: "Hola {{nombre}}, tu factura vence el {{fecha}}.",
  });
  const contacts = (n, offset) =>
    Array.from({ length: n }, (_, i) => ({
      phone: i < failing.length && offset === 0 ? failing[i] : `+5939920${String(offset + i).padStart(5, "0")}`,
      nombre: `Cliente ${offset + i}`,
      velocidad: "300 Mbps",
    }));
  const done = await api("POST", "/api/v1/campaigns", {
    name: "Fibra diciembre",
    sender_id: sender.id,
    template_id: template.id,
    contacts: [...contacts(40, 0), { phone: "12", nombre: "Mal", velocidad: "x" }],
  });
  ids.done = done.id;
  await until("the first campaign to finish", async () => (await api("GET", `/api/v1/campaigns/${done.id}`)).status === "completed");
  const paused = await api("POST", "/api/v1/campaigns", {
    name: "Fibra enero",
    sender_id: sender.id,
    template_id: template.id,
    contacts: contacts(400, 1000),
    rate: { messages_per_second: 2 },
  });
  ids.paused = paused.id;
  // A message counts once, in its current state: delivered and read are no longer "sent".
  const gone = ({ counts: n }) => n.sent + n.delivered + n.read;
  await until("a few sent", async () => gone(await api("GET", `/api/v1/campaigns/${paused.id}`)) >= 3);
  await api("POST", `/api/v1/campaigns/${paused.id}/pause`);
  await api("POST", "/api/v1/opt-outs", { phone: "+593991234567", reason: "Respondió BAJA" });
  await api("POST", "/api/v1/opt-ins", { phone: "+593998765432", source: "web_form", evidence: "formulario 1182" });
  await api("POST", "/api/v1/messages", {
    to: "+593995683452",
    template_id: template.id,
    variables: { nombre: "Ana", velocidad: "500 Mbps" },
    send_at: "2099-01-15T14:00:00Z",
  });
});

after(async () => {
  await simulator?.stop();
  await pregon?.stop();
});

test("every page with data: 200, no problem, nothing serious for axe, a screenshot", async () => {
  const browser = await openBrowser({ locale: "es-EC", viewport: { width: 1280, height: 900 } });
  try {
    await signIn(browser.page, pregon);
    const pages = [
      ["campaigns", "/"],
      ["campaign-detail", `/campaigns/${ids.done}`],
      ["campaign-paused", `/campaigns/${ids.paused}`],
      ["wizard", "/campaigns/new"],
      ["templates", "/templates"],
      ["senders", "/senders"],
      ["messages", "/messages"],
      ["audience", "/audience"],
      ["settings", "/settings"],
      ["system", "/system"],
    ];
    for (const [name, path] of pages) {
      const response = await browser.page.goto(pregon.url + path, { waitUntil: "load" });
      assert.equal(response.status(), 200, path);
      await browser.page.getByRole("heading", { level: 1 }).waitFor();
      assert.deepEqual(await seriousA11yViolations(browser.page), [], `axe on ${path}`);
      assert.deepEqual(await cspViolations(browser.page), [], `CSP on ${path}`);
      console.log(`screenshot: ${await screenshot(browser.page, `tour-${name}`)}`);
    }
    // Leaving a page closes its event stream: that abort is the browser's, not a problem.
    const problems = browser.problems.filter((p) => !/events(\?|$| ).*ERR_ABORTED/.test(p));
    assert.deepEqual(problems, [], "no console error, failed request or error answer");
  } finally {
    await browser.close();
  }
});
