// The new-campaign wizard at /campaigns/new, in Chromium against the real binary: a CSV
// whose columns need mapping, the validation report with its counts and downloads, the
// preview as the recipient sees it (an XSS payload in a field stays text), the estimate,
// start, and the campaign's page; both languages; axe; a viewer gets no wizard.
// Elements are found by role and accessible name, never by CSS class.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, test } from "node:test";

import { cspViolations, openBrowser, seriousA11yViolations } from "../lib/browser.mjs";
import { OWNER, signIn, startPregon } from "../lib/pregon.mjs";

let pregon;
let template;

const XSS = '<img src=x onerror="window.__xss=1">Ana';
const CSV = [
  "Celular;Nombre completo",
  `+593990000001;${XSS}`,
  "12345;Corto",
  "+593990000001;Ana otra vez",
  "+593990000003;Baja",
  "+593990000004;Luis",
  "",
].join("\n");

before(async () => {
  pregon = await startPregon();
  const made = await pregon.api("POST", "/api/v1/templates", {
    name: "pedido_listo",
    language: "es",
    body: "Hola {{nombre}}, tu pedido está listo.",
    header_image: "https://example.com/pedido.png",
  });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  template = made.body;
  const optOut = await pregon.api("POST", "/api/v1/opt-outs", { phone: "+593990000003" });
  assert.equal(optOut.status, 201, JSON.stringify(optOut.body));
});

after(async () => {
  await pregon?.stop();
});

async function withBrowser(options, fn) {
  const { as = OWNER, ...browserOptions } = options;
  const browser = await openBrowser(browserOptions);
  await browser.context.route("https://example.com/**", (route) =>
    route.fulfill({ status: 200, contentType: "image/png", body: PNG }),
  );
  try {
    await signIn(browser.page, pregon, as, "/campaigns/new");
    return await fn(browser);
  } finally {
    await browser.close();
  }
}

/** The report's row for `reason`, as its cells' texts. */
async function reportRow(page, table, reason) {
  const row = page.getByRole("table", { name: table }).getByRole("row", { name: new RegExp("^" + reason) });
  await row.waitFor();
  return (await row.getByRole("cell").allInnerTexts()).map((t) => t.trim());
}

async function campaigns() {
  const { status, body } = await pregon.api("GET", "/api/v1/campaigns");
  assert.equal(status, 200);
  return body.items;
}

/** A 1×1 PNG, served for the template's header image (the test machine has no internet). */
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
  "base64",
);

/**
 * Problems but the campaign's own page, which another part of the console draws (a 404
 * until it exists: its answer, and the console's words for it).
 */
function realProblems(problems) {
  const detailMissing = problems.some((p) => /answer 404: .*\/campaigns\/cmp_/.test(p));
  return problems.filter(
    (p) => !/\/campaigns\/cmp_/.test(p) && !(detailMissing && p.includes("status of 404 (Not Found)")),
  );
}

test("a CSV whose columns need mapping: report, preview as text, estimate, start, the campaign's page", async () => {
  await withBrowser({ locale: "es-EC" }, async ({ page, problems }) => {
    await page.getByRole("heading", { level: 1, name: "Nueva campaña" }).waitFor();
    await page.getByLabel("Nombre de la campaña").fill("Pedidos de diciembre");
    await page.getByLabel("Plantilla").selectOption(template.id);
    await page.getByLabel("Archivo CSV").setInputFiles({
      name: "pedidos.csv",
      mimeType: "text/csv",
      buffer: Buffer.from(CSV, "utf8"),
    });
    await page.getByText("Separador: punto y coma · con fila de encabezados · 5 filas · 2 columnas.").waitFor();
    const sample = page.getByRole("table", { name: "Primeras filas de los contactos" });
    assert.deepEqual(
      (await sample.getByRole("columnheader").allTextContents()).map((t) => t.trim()),
      ["Fila", "Celular", "Nombre completo"],
    );
    // The payload is a cell's text, not markup.
    await sample.getByRole("cell", { name: XSS }).waitFor();
    assert.equal(await page.getByLabel("Columna del teléfono").inputValue(), "Celular", "the phone column is guessed");
    await page.getByLabel("Columna para la variable «nombre»").selectOption({ label: "Nombre completo" });

    await page.getByRole("button", { name: "Validar contactos" }).click();
    const report = "Informe de validación";
    assert.deepEqual(await reportRow(page, report, "Aceptados"), ["2", ""]);
    assert.deepEqual((await reportRow(page, report, "Teléfono no válido")).slice(0, 1), ["1"]);
    assert.deepEqual((await reportRow(page, report, "Duplicados")).slice(0, 1), ["1"]);
    assert.deepEqual((await reportRow(page, report, "Dados de baja")).slice(0, 1), ["1"]);
    assert.deepEqual(await reportRow(page, report, "Falta una variable"), ["0", ""]);
    assert.deepEqual(await campaigns(), [], "validating creates nothing");

    // The invalid rows download as a CSV with their fields and the reason.
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Descargar CSV de las filas: Teléfono no válido" }).click(),
    ]);
    const csv = await readFile(await download.path(), "utf8");
    assert.match(csv, /^\ufefffila,Celular,Nombre completo,motivo\r\n3,12345,Corto,"invalid phone ""12345""/, csv);

    // The first accepted rows, as the recipient sees them; the payload stays text.
    const bubble = page.getByRole("group", { name: "Vista previa de la fila 2" });
    await bubble.getByText(`Hola ${XSS}, tu pedido está listo.`, { exact: true }).waitFor();
    const image = bubble.getByRole("img", { name: "Imagen del encabezado" });
    assert.equal(await image.getAttribute("src"), "https://example.com/pedido.png");
    await page.getByRole("group", { name: "Vista previa de la fila 6" }).getByText("Hola Luis, tu pedido está listo.").waitFor();
    assert.equal(await page.evaluate(() => window.__xss), undefined, "the payload never ran");
    await page.getByText(/^Duración estimada: \d+ s, a \d+(,\d)? mensajes por segundo\.$/).waitFor();

    assert.deepEqual(await seriousA11yViolations(page), [], "axe on the filled wizard");
    assert.deepEqual(await cspViolations(page), []);

    // A double click creates one campaign, and the wizard goes to its page.
    await Promise.all([
      page.waitForURL(/\/campaigns\/cmp_[^/]+$/),
      page.getByRole("button", { name: "Crear campaña" }).dblclick(),
    ]);
    const list = await campaigns();
    assert.equal(list.length, 1, JSON.stringify(list));
    const [campaign] = list;
    assert.equal(new URL(page.url()).pathname, `/campaigns/${campaign.id}`);
    assert.equal(campaign.name, "Pedidos de diciembre");
    assert.deepEqual(campaign.field_mapping, { phone: "Celular", nombre: "Nombre completo" });
    assert.notEqual(campaign.status, "draft");
    assert.equal(campaign.counts.skipped, 3);
    assert.deepEqual(realProblems(problems), []);
  });
});

test("in English, pasted rows without a header, saved as a draft", async () => {
  await withBrowser({ locale: "en-US" }, async ({ page, problems }) => {
    await page.getByRole("heading", { level: 1, name: "New campaign" }).waitFor();
    assert.deepEqual(await seriousA11yViolations(page), [], "axe on the empty wizard");
    await page.getByLabel("Campaign name").fill("Draft from pasted rows");
    await page.getByLabel("Template").selectOption(template.id);
    await page.getByLabel("Or paste the rows here").fill("+593990000011\tMaría\n+593990000012\tJosé\nabc\tNadie\n");
    await page.getByRole("button", { name: "Read contacts" }).click();
    await page.getByText("Separator: tab · without a header row · 3 rows · 2 columns.").waitFor();
    assert.equal(await page.getByLabel("Phone column").inputValue(), "1");
    await page.getByLabel("Column for the variable “nombre”").selectOption({ label: "Column 2" });
    await page.getByRole("button", { name: "Validate contacts" }).click();
    const report = "Validation report";
    assert.deepEqual(await reportRow(page, report, "Accepted"), ["2", ""]);
    assert.deepEqual((await reportRow(page, report, "Invalid phone")).slice(0, 1), ["1"]);
    await page.getByRole("group", { name: "Preview of row 1" }).getByText("Hola María, tu pedido está listo.").waitFor();
    await page.getByText(/^Estimated duration: /).waitFor();
    await page.getByLabel("Save as draft").check();
    const before = (await campaigns()).length;
    // A refusal is said, and the corrected form is a new request (a new idempotency key).
    await page.getByLabel("Expires on").fill("2020-01-01T10:00");
    await page.getByRole("button", { name: "Create campaign" }).click();
    await page.getByText(/expires_at/).waitFor();
    assert.equal((await campaigns()).length, before);
    await page.getByLabel("Expires on").fill("");
    await Promise.all([
      page.waitForURL(/\/campaigns\/cmp_[^/]+$/),
      page.getByRole("button", { name: "Create campaign" }).click(),
    ]);
    const list = await campaigns();
    assert.equal(list.length, before + 1);
    const made = list.find((c) => c.name === "Draft from pasted rows");
    assert.equal(made.status, "draft");
    assert.deepEqual(made.field_mapping, { phone: "1", nombre: "2" });
    const refused = problems.filter((p) => /answer 422: .*\/api\/v1\/campaigns\/import/.test(p));
    assert.equal(refused.length, 1, JSON.stringify(problems));
    assert.deepEqual(
      realProblems(problems).filter((p) => !refused.includes(p) && !p.includes("status of 422")),
      [],
    );
  });
});

test("mapping the wrong column shows in the report, and nothing is created", async () => {
  await withBrowser({ locale: "es-EC" }, async ({ page }) => {
    await page.getByLabel("Nombre de la campaña").fill("Sin teléfono");
    await page.getByLabel("Plantilla").selectOption(template.id);
    await page.getByLabel("O pega las filas aquí").fill("Celular,Nombre\n+593990000021,Eva\n");
    await page.getByRole("button", { name: "Leer contactos" }).click();
    await page.getByLabel("Columna del teléfono").selectOption({ label: "Nombre" });
    const before = (await campaigns()).length;
    await page.getByRole("button", { name: "Validar contactos" }).click();
    assert.deepEqual(await reportRow(page, "Informe de validación", "Teléfono no válido"), ["1", "Descargar CSV"]);
    assert.equal((await campaigns()).length, before);
  });
});

test("a viewer gets no wizard", async () => {
  const viewer = await pregon.createUser("viewer");
  const browser = await openBrowser({ locale: "es-EC" });
  try {
    await signIn(browser.page, pregon, viewer, "/");
    const response = await browser.page.goto(`${pregon.url}/campaigns/new`);
    assert.equal(response.status(), 403);
    assert.equal(await browser.page.getByRole("form", { name: "Nueva campaña" }).count(), 0);
    assert.equal(await browser.page.getByRole("button", { name: "Crear campaña" }).count(), 0);
    assert.equal(await browser.page.getByLabel("Archivo CSV").count(), 0);
  } finally {
    await browser.close();
  }
});
