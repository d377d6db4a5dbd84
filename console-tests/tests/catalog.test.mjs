// The templates and senders pages in Chromium: adding a simulator sender through the form,
// its connection test, creating a template through the form (and a refusal written beside
// its field), the preview as text, sync from WhatsApp, a viewer with no buttons whose
// direct POST is refused, and axe on both pages in both languages. Elements are found by
// role and accessible name, never by CSS class.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { cspViolations, openBrowser, seriousA11yViolations } from "../lib/browser.mjs";
import { OWNER, SIMULATOR, signIn, startPregon, startSimulator } from "../lib/pregon.mjs";

let pregon;
let simulator;
let dir;

/** The templates the simulator's WhatsApp Business Account holds (`--templates`). */
const WABA_TEMPLATES = [
  {
    name: "aviso_pago",
    language: "es",
    category: "UTILITY",
    status: "APPROVED",
    quality_score: { score: "GREEN" },
    components: [{ type: "BODY", text: "Hola {{1}}, su pago vence el {{2}}." }],
  },
  {
    name: "oferta",
    language: "es",
    category: "MARKETING",
    status: "PAUSED",
    quality_score: { score: "RED" },
    components: [{ type: "BODY", text: "Oferta para {{1}}" }],
  },
];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "pregon-catalog-"));
  const templates = join(dir, "templates.json");
  writeFileSync(templates, JSON.stringify(WABA_TEMPLATES));
  pregon = await startPregon();
  simulator = await startSimulator({ args: ["--templates", templates] });
});

after(async () => {
  await simulator?.stop();
  await pregon?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function withBrowser({ as = OWNER, locale = "es-EC" } = {}, fn) {
  const browser = await openBrowser({ locale });
  try {
    await signIn(browser.page, pregon, as);
    return await fn(browser);
  } finally {
    await browser.close();
  }
}

async function visit(page, path) {
  const response = await page.goto(pregon.url + path, { waitUntil: "load" });
  assert.equal(response.status(), 200, `${path} answers 200`);
}

async function noSeriousViolations(page, what) {
  const violations = await seriousA11yViolations(page);
  assert.deepEqual(violations, [], `${what}: axe found serious or critical problems`);
  assert.deepEqual(await cspViolations(page), [], `${what}: CSP violations`);
}

test("an owner adds a simulator sender through the form and its connection test says OK", async () => {
  await withBrowser({}, async ({ page }) => {
    await visit(page, "/senders");
    await page.getByRole("heading", { level: 1, name: "Números", exact: true }).waitFor();
    const form = page.getByRole("region", { name: "Agregar número" });
    await form.getByLabel("Proveedor", { exact: true }).selectOption("meta");
    // The Twilio fields are hidden for a Meta sender.
    assert.equal(await form.getByLabel("Auth token").isVisible(), false);
    await form.getByLabel("Nombre", { exact: true }).fill("Simulador <b>1</b>");
    await form.getByLabel("Número propio").fill("+593995683452");
    await form.getByLabel("Token de acceso").fill(SIMULATOR.accessToken);
    await form.getByLabel("Identificador del número (phone_number_id)").fill("1142");
    await form.getByLabel("Cuenta de WhatsApp Business (waba_id)").fill("100000000000001");
    await form.getByLabel("Secreto de la aplicación").fill(SIMULATOR.appSecret);
    await form.getByLabel("Dirección del proveedor (opcional)").fill(simulator.metaBaseUrl);
    await form.getByLabel("Mensajes por segundo").fill("20");
    await Promise.all([
      page.waitForURL(`${pregon.url}/senders`),
      form.getByRole("button", { name: "Agregar número" }).click(),
    ]);
    const table = page.getByRole("table", { name: /Números de WhatsApp de la empresa/ });
    const row = table.getByRole("row", { name: /Simulador <b>1<\/b>/ });
    await row.waitFor();
    await row.getByText("Activo", { exact: true }).waitFor();
    // The credentials never come back.
    const html = await page.content();
    assert.ok(!html.includes(SIMULATOR.accessToken), "the access token is not in the page");
    assert.ok(!html.includes(SIMULATOR.appSecret), "the app secret is not in the page");

    await row.getByRole("button", { name: "Probar conexión de Simulador <b>1</b>" }).click();
    await page.getByText(/^Conexión correcta con Simulador <b>1<\/b>\./).waitFor();
    await noSeriousViolations(page, "/senders after a test");

    // Pause, then resume, from the row.
    await row.getByRole("button", { name: "Pausar Simulador <b>1</b>" }).click();
    await table.getByRole("row", { name: /Simulador <b>1<\/b>/ }).getByText("En pausa", { exact: true }).waitFor();
    await table.getByRole("button", { name: "Reanudar Simulador <b>1</b>" }).click();
    await table.getByRole("row", { name: /Simulador <b>1<\/b>/ }).getByText("Activo", { exact: true }).waitFor();

    // The edit form keeps the credentials unless they are typed again.
    await table.getByRole("link", { name: "Editar Simulador <b>1</b>" }).click();
    const edit = page.getByRole("region", { name: "Editar Simulador <b>1</b>" });
    await edit.getByText(/Deje los campos vacíos para conservarlas/).waitFor();
    assert.equal(await edit.getByLabel("Token de acceso").inputValue(), "");
    await edit.getByLabel("Nombre", { exact: true }).fill("Simulador");
    await Promise.all([
      page.waitForURL(`${pregon.url}/senders`),
      edit.getByRole("button", { name: "Guardar cambios" }).click(),
    ]);
    const renamed = table.getByRole("row", { name: /^Simulador / });
    await renamed.getByRole("button", { name: "Probar conexión de Simulador" }).click();
    await page.getByText(/^Conexión correcta con Simulador\./).waitFor();
  });
});

test("an owner creates a template through the form, sees a refusal by its field, and previews it as text", async () => {
  await withBrowser({}, async ({ page }) => {
    await visit(page, "/templates");
    const form = page.getByRole("region", { name: "Nueva plantilla" });
    // A refusal is written beside its field, and the field is marked invalid.
    await form.getByLabel("Nombre en el proveedor").fill("bienvenida");
    await form.getByLabel("Texto del mensaje").fill("Hola {{nombre");
    await form.getByRole("button", { name: "Crear plantilla" }).click();
    const body = form.getByLabel("Texto del mensaje");
    await page.waitForFunction(() => document.querySelector("#tpl-body")?.getAttribute("aria-invalid") === "true");
    const description = await body.evaluate((el) =>
      el
        .getAttribute("aria-describedby")
        .split(" ")
        .map((id) => document.getElementById(id).textContent)
        .join(" "),
    );
    assert.match(description, /\S/, "the error is part of the field's description");

    await body.fill("Hola {{nombre}}, bienvenido a <b>la tienda</b>");
    await form.getByLabel("Categoría").selectOption({ label: "Utilidad" });
    await Promise.all([
      page.waitForEvent("load"),
      form.getByRole("button", { name: "Crear plantilla" }).click(),
    ]);
    const table = page.getByRole("table", { name: /Plantillas de la empresa/ });
    const row = table.getByRole("row", { name: /bienvenida/ });
    await row.getByText("Utilidad", { exact: true }).waitFor();
    await row.getByText("Aprobada", { exact: true }).waitFor();
    await row.getByText("Hola {{nombre}}, bienvenido a <b>la tienda</b>").waitFor();

    await row.getByRole("link", { name: "Vista previa de bienvenida (es)" }).click();
    const preview = page.getByRole("region", { name: "Vista previa: bienvenida (es)" });
    await preview.getByLabel("Valor de ejemplo para nombre").fill("<i>Ana</i>");
    await preview.getByRole("button", { name: "Mostrar vista previa" }).click();
    const bubble = page.getByRole("region", { name: "Mensaje como lo verá el destinatario" });
    await bubble.getByText("Hola <i>Ana</i>, bienvenido a <b>la tienda</b>", { exact: true }).waitFor();
    assert.equal(await bubble.locator("i, b").count(), 0, "the preview is text, not HTML");
    await noSeriousViolations(page, "/templates with a preview");

    // Deleting asks first; cancelling keeps it.
    await row.getByRole("button", { name: "Eliminar bienvenida (es)" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByRole("button", { name: "Cancelar" }).click();
    await row.waitFor();
  });
});

test("sync from WhatsApp brings in the simulator's templates with their badges", async () => {
  await withBrowser({}, async ({ page }) => {
    await visit(page, "/templates");
    const table = page.getByRole("table", { name: /Plantillas de la empresa/ });
    await Promise.all([
      page.waitForEvent("load"),
      page.getByRole("button", { name: /^Sincronizar desde WhatsApp \(Simulador\)$/ }).click(),
    ]);
    const paid = table.getByRole("row", { name: /aviso_pago/ });
    await paid.getByText("Utilidad", { exact: true }).waitFor();
    await paid.getByText("Aprobada", { exact: true }).waitFor();
    await paid.getByText("Calidad alta", { exact: true }).waitFor();
    const offer = table.getByRole("row", { name: /oferta/ });
    await offer.getByText("Marketing", { exact: true }).waitFor();
    await offer.getByText("En pausa", { exact: true }).waitFor();
    await offer.getByText("Calidad baja", { exact: true }).waitFor();
    const { body } = await pregon.api("GET", "/api/v1/audit?action=template.sync");
    assert.equal(body.items.length, 1, JSON.stringify(body));
  });
});

test("a viewer sees no buttons on either page and its direct POST gets 403", async () => {
  const person = await pregon.createUser("viewer");
  await withBrowser({ as: person }, async ({ page }) => {
    for (const path of ["/templates", "/senders"]) {
      await visit(page, path);
      await page.getByRole("table").waitFor();
      assert.equal(await page.getByRole("main").getByRole("button").count(), 0, `${path}: no buttons`);
      assert.equal(await page.getByRole("main").getByRole("textbox").count(), 0, `${path}: no forms`);
    }
    const status = await page.evaluate(async () => {
      const token = document.querySelector('meta[name="csrf-token"]').content;
      const r = await fetch("/api/v1/templates", {
        method: "POST",
        headers: { "content-type": "application/json", "x-csrf-token": token },
        body: JSON.stringify({ name: "x", language: "es", body: "Hola" }),
      });
      return r.status;
    });
    assert.equal(status, 403);
  });
});

test("both pages have no serious accessibility problem, in Spanish and English", async () => {
  const words = {
    es: { locale: "es-EC", templates: "Plantillas", senders: "Números" },
    en: { locale: "en-US", templates: "Templates", senders: "Senders" },
  };
  for (const lang of ["es", "en"]) {
    await withBrowser({ locale: words[lang].locale }, async ({ page }) => {
      for (const [path, heading] of [
        ["/templates", words[lang].templates],
        ["/senders", words[lang].senders],
      ]) {
        await visit(page, path);
        assert.equal(await page.evaluate(() => document.documentElement.lang), lang);
        await page.getByRole("heading", { level: 1, name: heading, exact: true }).waitFor();
        const html = await page.content();
        assert.ok(!html.includes("⟦"), `${lang} ${path}: a message is missing`);
        await noSeriousViolations(page, `${lang} ${path}`);
      }
    });
  }
});
