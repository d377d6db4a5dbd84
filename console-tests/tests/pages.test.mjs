// The settings, audience, messages and system pages in Chromium, as a person uses them:
// making an API key (shown once), adding a person, opting a number out by hand and by a
// CSV, sending a scheduled message and cancelling it, reading the system; a viewer sees
// no control; axe-core on each page; Spanish and English. Elements are found by role and
// accessible name.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { cspViolations, openBrowser, screenshot, seriousA11yViolations } from "../lib/browser.mjs";
import { OWNER, signIn, startPregon } from "../lib/pregon.mjs";

let pregon;

before(async () => {
  pregon = await startPregon();
});

after(async () => {
  await pregon?.stop();
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
  assert.deepEqual(await seriousA11yViolations(page), [], `axe on ${what}`);
  assert.deepEqual(await cspViolations(page), [], `CSP on ${what}`);
}

test("settings: an API key is shown once with a copy button, and works; a person is added", async () => {
  await withBrowser({}, async ({ page, context }) => {
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: pregon.url });
    await visit(page, "/settings");
    await noSeriousViolations(page, "/settings");
    const form = page.getByRole("form", { name: "Crear una clave" });
    await form.getByLabel("Nombre").fill("ERP <contable>");
    await form.getByLabel("Rol").selectOption({ label: "Lector" });
    await form.getByRole("button", { name: "Crear clave" }).click();
    const shown = page.getByRole("status").filter({ hasText: "Se muestra solo esta vez" });
    await shown.waitFor();
    const key = (await shown.locator("code").textContent()).trim();
    assert.match(key, /^pgn_/, "the new key");
    await shown.getByRole("button", { name: "Copiar" }).click();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), key, "copied");
    const me = await fetch(`${pregon.url}/api/v1/me`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(me.status, 200, "the key works");
    assert.equal((await me.json()).role, "viewer");

    await page.reload();
    const keys = page.getByRole("table", { name: "Claves para integrar otros sistemas" });
    await keys.getByRole("rowheader", { name: "ERP <contable>" }).waitFor();
    assert.ok(!(await page.content()).includes(key), "never shown again");

    const person = page.getByRole("form", { name: "Agregar una persona" });
    // The owner's own address is taken: the API refuses and the page says so.
    await person.getByLabel("Correo electrónico").fill(OWNER.email);
    await person.getByLabel("Nombre").fill("Luisa");
    await person.getByLabel("Contraseña inicial").fill("una contraseña bien larga");
    await person.getByRole("button", { name: "Agregar" }).click();
    await page.getByRole("status").getByText("No se pudo completar", { exact: false }).waitFor();
    await person.getByLabel("Correo electrónico").fill("luisa@example.com");
    await Promise.all([page.waitForEvent("load"), person.getByRole("button", { name: "Agregar" }).click()]);
    const people = page.getByRole("table", { name: "Personas con acceso a la consola" });
    await people.getByRole("rowheader", { name: "Luisa" }).waitFor();
    await page.getByRole("table", { name: "Cambios hechos en la empresa, los más recientes primero" })
      .getByRole("rowheader", { name: "user.create" }).first().waitFor();
    console.log(`screenshot: ${await screenshot(page, "settings-es")}`);
  });
});

test("audience: opt a number out, find it, import a CSV, remove one after confirming", async () => {
  await withBrowser({}, async ({ page }) => {
    await visit(page, "/audience");
    await noSeriousViolations(page, "/audience");
    const add = page.getByRole("form", { name: "Dar de baja un número" });
    await add.getByLabel("Número").fill("+58 412 123 4567");
    await add.getByLabel("Motivo").fill("<b>pidió BAJA</b>");
    await Promise.all([page.waitForEvent("load"), add.getByRole("button", { name: "Agregar" }).click()]);
    const outs = page.getByRole("table", { name: "Números dados de baja" });
    await outs.getByRole("rowheader", { name: "+584121234567" }).waitFor();
    await outs.getByRole("cell", { name: "<b>pidió BAJA</b>" }).waitFor();

    const upload = page.getByRole("form", { name: "Importar bajas desde un CSV" });
    await upload.getByLabel("Archivo CSV").setInputFiles({
      name: "bajas.csv",
      mimeType: "text/csv",
      buffer: Buffer.from("nombre,telefono\nAna,+593995683452\nLuis,+584121234567\nEva,xx\n"),
    });
    await upload.getByRole("button", { name: "Importar" }).click();
    const report = upload.getByRole("status");
    await report.getByText("Importación terminada.").waitFor();
    const fact = async (term) => (await report.getByText(term).locator("xpath=following-sibling::dd").textContent()).trim();
    assert.deepEqual(
      [await fact("Filas leídas"), await fact("Bajas nuevas"), await fact("Ya estaban o repetidas"), await fact("Números inválidos")],
      ["3", "1", "1", "1"],
    );
    await page.getByLabel("Buscar un número").fill("+59399");
    await Promise.all([page.waitForEvent("load"), page.getByRole("button", { name: "Buscar" }).click()]);
    await outs.getByRole("rowheader", { name: "+593995683452" }).waitFor();
    assert.equal(await outs.getByRole("rowheader", { name: "+584121234567" }).count(), 0, "the search filters");
    console.log(`screenshot: ${await screenshot(page, "audience-es")}`);

    await outs.getByRole("button", { name: "Quitar la baja de +593995683452" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.waitFor();
    await Promise.all([page.waitForEvent("load"), dialog.getByRole("button", { name: "Sí, continuar" }).click()]);
    const { body } = await pregon.api("GET", "/api/v1/opt-outs");
    assert.deepEqual(body.items.map((o) => o.phone), ["+584121234567"]);
  });
});

test("messages: schedule one, see it in the list, cancel it", async () => {
  const template = await pregon.api("POST", "/api/v1/templates", {
    name: "recordatorio",
    language: "es",
    body: "Hola {{nombre}}, te esperamos.",
  });
  assert.equal(template.status, 201);
  await withBrowser({}, async ({ page }) => {
    await visit(page, "/messages");
    await noSeriousViolations(page, "/messages");
    const form = page.getByRole("form", { name: "Enviar un mensaje" });
    await form.getByLabel("Destinatario").fill("+593995683452");
    await form.getByLabel("Plantilla").selectOption({ label: "recordatorio (es)" });
    await form.getByLabel("Variables").fill("nombre=Ana");
    await form.getByLabel("Enviar el").fill("2099-03-01T09:30");
    await Promise.all([page.waitForEvent("load"), form.getByRole("button", { name: "Enviar", exact: true }).click()]);
    const scheduled = page.getByRole("table", { name: "Mensajes que esperan su hora, el más próximo primero" });
    await scheduled.getByRole("rowheader", { name: "+593995683452" }).waitFor();
    console.log(`screenshot: ${await screenshot(page, "messages-es")}`);
    await scheduled.getByRole("button", { name: /^Cancelar el mensaje a \+593995683452/ }).click();
    await Promise.all([page.waitForEvent("load"), page.getByRole("dialog").getByRole("button", { name: "Sí, continuar" }).click()]);
    assert.equal(await scheduled.getByRole("rowheader", { name: "+593995683452" }).count(), 0);
    const history = page.getByRole("table", { name: "Mensajes sueltos, los más recientes primero" });
    await history.getByRole("cell", { name: "Cancelado" }).waitFor();
  });
});

test("a viewer sees the pages but no control, in English too", async () => {
  const viewer = await pregon.createUser("viewer");
  await pregon.api("POST", "/api/v1/opt-outs", { phone: "+573001234567" });
  await withBrowser({ as: viewer, locale: "en-US" }, async ({ page }) => {
    for (const path of ["/settings", "/audience", "/messages", "/system"]) {
      await visit(page, path);
      await noSeriousViolations(page, `${path} (viewer, en)`);
      const main = page.getByRole("main");
      const buttons = await main.getByRole("button").allTextContents();
      const allowed = path === "/audience" ? ["Search"] : [];
      assert.deepEqual(buttons.filter((b) => !allowed.includes(b.trim())), [], `${path}: no action buttons`);
    }
    await visit(page, "/audience");
    await page.getByRole("table", { name: "Opted-out numbers" }).getByRole("rowheader", { name: "+573001234567" }).waitFor();
    await visit(page, "/system");
    await page.getByRole("table", { name: "Dispatcher processes" }).waitFor();
    await page.getByText("Answering").waitFor();
    console.log(`screenshot: ${await screenshot(page, "system-en")}`);
    // Its direct call is refused.
    const refused = await page.evaluate(async () => {
      const token = document.querySelector('meta[name="csrf-token"]').content;
      const r = await fetch("/api/v1/opt-outs", {
        method: "POST",
        headers: { "content-type": "application/json", "x-csrf-token": token },
        body: JSON.stringify({ phone: "+584121234567" }),
      });
      return r.status;
    });
    assert.equal(refused, 403);
  });
});
