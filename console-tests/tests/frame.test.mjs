// The console's frame on every page of the navigation: language, landmarks, keyboard,
// security headers, assets, accessibility, screenshots. Elements are found by their role
// and accessible name, as a person finds them; never by CSS class.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { cspViolations, openBrowser, screenshot, seriousA11yViolations } from "../lib/browser.mjs";
import { OWNER, signIn, startPregon } from "../lib/pregon.mjs";

const POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; " +
  "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; " +
  "frame-ancestors 'none'";

/** The navigation as a person reads it, in each language, with where each link goes. */
const NAV = {
  es: ["Campañas", "Nueva campaña", "Plantillas", "Números", "Mensajes", "Audiencia", "Configuración", "Sistema"],
  en: ["Campaigns", "New campaign", "Templates", "Senders", "Messages", "Audience", "Settings", "System"],
};
const PATHS = ["/", "/campaigns/new", "/templates", "/senders", "/messages", "/audience", "/settings", "/system"];
const WORDS = {
  es: { nav: "Principal", skip: "Saltar al contenido", table: "Campañas de la empresa", languages: "Idioma" },
  en: { nav: "Main", skip: "Skip to content", table: "The business's campaigns", languages: "Language" },
};
const LOCALE = { es: "es-EC", en: "en-US" };

let pregon;

before(async () => {
  pregon = await startPregon();
});

after(async () => {
  await pregon?.stop();
});

/**
 * Runs `fn` with a fresh browser signed in as `options.as` (the owner by default; null
 * for nobody), closed afterwards whatever happens.
 */
async function withBrowser(options, fn) {
  const { as = OWNER, ...browserOptions } = options;
  const browser = await openBrowser(browserOptions);
  try {
    if (as) await signIn(browser.page, pregon, as);
    return await fn(browser);
  } finally {
    await browser.close();
  }
}

async function visit(page, path) {
  const response = await page.goto(pregon.url + path, { waitUntil: "load" });
  assert.equal(response.status(), 200, `${path} answers 200`);
  return response;
}

const isFocused = (locator) => locator.evaluate((element) => element === document.activeElement);
const htmlLang = (page) => page.evaluate(() => document.documentElement.lang);

test("the campaigns page is in Spanish by default", async () => {
  // A browser asking for a language the console does not speak gets Spanish, as does one
  // asking for Ecuadorian Spanish.
  for (const locale of ["fr-FR", "es-EC"]) {
    await withBrowser({ locale }, async ({ page }) => {
      await visit(page, "/");
      assert.equal(await htmlLang(page), "es", locale);
      await page.getByRole("heading", { level: 1, name: "Campañas", exact: true }).waitFor();
      assert.equal(await page.title(), "Campañas · pregon");
      await page.getByRole("cell", { name: "No hay campañas para mostrar." }).waitFor();
    });
  }
});

test("the campaigns page is in English with Accept-Language: en", async () => {
  // The browser's locale is what it sends as Accept-Language.
  for (const locale of ["en", "en-US"]) {
    await withBrowser({ locale }, async ({ page }) => {
      const response = await visit(page, "/");
      const sent = (await response.request().allHeaders())["accept-language"];
      assert.ok(sent.startsWith("en"), `Accept-Language: ${sent}`);
      assert.equal(await htmlLang(page), "en", locale);
      assert.equal(response.headers()["content-language"], "en");
      await page.getByRole("heading", { level: 1, name: "Campaigns", exact: true }).waitFor();
      await page.getByRole("cell", { name: "There are no campaigns to show." }).waitFor();
    });
  }
});

test("the language switcher works from the keyboard and the choice is kept", async () => {
  // A person of their own: the choice is remembered as theirs, and the other tests'
  // owner keeps the browser's language.
  const person = await pregon.createUser("viewer");
  await withBrowser({ locale: "es-EC", as: person }, async ({ page }) => {
    await visit(page, "/");
    const languages = page.getByRole("list", { name: "Idioma" });
    const english = languages.getByRole("link", { name: "English", exact: true });
    assert.equal(await languages.getByRole("link", { name: "Español" }).getAttribute("aria-current"), "true");
    await english.focus();
    await page.keyboard.press("Enter");
    await page.waitForURL(`${pregon.url}/?lang=en`);
    await page.getByRole("heading", { level: 1, name: "Campaigns", exact: true }).waitFor();
    assert.equal(await htmlLang(page), "en");
    const switcher = page.getByRole("list", { name: "Language" });
    assert.equal(await switcher.getByRole("link", { name: "English" }).getAttribute("aria-current"), "true");
    assert.equal(await switcher.getByRole("link", { name: "Español" }).getAttribute("aria-current"), null);

    // Another page, reached by keyboard through the navigation, stays in English.
    const nav = page.getByRole("navigation", { name: "Main" });
    await nav.getByRole("link", { name: "Templates", exact: true }).focus();
    await page.keyboard.press("Enter");
    await page.waitForURL(`${pregon.url}/templates`);
    await page.getByRole("heading", { level: 1, name: "Templates", exact: true }).waitFor();

    await switcher.getByRole("link", { name: "Español" }).click();
    await page.waitForURL(`${pregon.url}/templates?lang=es`);
    await page.getByRole("heading", { level: 1, name: "Plantillas", exact: true }).waitFor();
    await page.getByRole("list", { name: "Idioma" }).getByRole("link", { name: "English" }).click();
    await page.waitForURL(`${pregon.url}/templates?lang=en`);
  });
  // The choice is the person's: a new browser in Spanish, once they sign in, is in English.
  await withBrowser({ locale: "es-EC", as: person }, async ({ page }) => {
    await page.getByRole("heading", { level: 1, name: "Campaigns", exact: true }).waitFor();
  });
});

test("the login form: labelled fields, a wrong password said aloud, sign-in by keyboard", async () => {
  await withBrowser({ locale: "es-EC", as: null }, async ({ page, problems }) => {
    // A page asked for before signing in comes back after it.
    await page.goto(`${pregon.url}/senders`);
    await page.waitForURL(`${pregon.url}/login?next=%2Fsenders`);
    await page.getByRole("heading", { level: 1, name: "Iniciar sesión", exact: true }).waitFor();
    assert.equal(await page.title(), "Iniciar sesión · pregon");
    assert.deepEqual(await seriousA11yViolations(page), [], "the login page");
    const email = page.getByLabel("Correo electrónico");
    assert.ok(await isFocused(email), "the email field has the focus");
    await email.fill(OWNER.email);
    await page.keyboard.press("Tab");
    await page.keyboard.type("no es la clave");
    await page.keyboard.press("Enter");
    const alert = page.getByRole("alert");
    await alert.getByText("El correo o la contraseña no son correctos.").waitFor();
    assert.equal(await page.getByLabel("Correo electrónico").inputValue(), OWNER.email, "the email stays");
    assert.equal(await page.getByLabel("Contraseña").inputValue(), "", "the password does not");
    assert.ok(await isFocused(page.getByLabel("Contraseña")), "and the password field has the focus");
    console.log(`screenshot: ${await screenshot(page, "login-error-es")}`);

    await page.getByLabel("Contraseña").fill(OWNER.password);
    await page.getByLabel("Contraseña").press("Enter");
    await page.waitForURL(`${pregon.url}/senders`);
    await page.getByRole("heading", { level: 1, name: "Números", exact: true }).waitFor();
    assert.deepEqual(
      problems.filter((p) => !p.includes("401")),
      [],
      "nothing went wrong but the refused password",
    );

    // Signing out, from the header, ends it: the pages ask for the login again.
    await page.getByRole("button", { name: "Cerrar sesión" }).click();
    await page.waitForURL(`${pregon.url}/login`);
    await page.goto(`${pregon.url}/`);
    await page.waitForURL(`${pregon.url}/login?next=%2F`);
  });
  await withBrowser({ locale: "en-US", as: null }, async ({ page }) => {
    await page.goto(`${pregon.url}/login`);
    await page.getByRole("heading", { level: 1, name: "Sign in", exact: true }).waitFor();
    assert.deepEqual(await seriousA11yViolations(page), [], "the login page in English");
    console.log(`screenshot: ${await screenshot(page, "login-en")}`);
  });
});

test("every page has one main landmark, a named navigation, a banner, a footer and one h1", async () => {
  for (const lang of ["es", "en"]) {
    await withBrowser({ locale: LOCALE[lang] }, async ({ page }) => {
      for (const [i, path] of PATHS.entries()) {
        await visit(page, path);
        assert.equal(await page.getByRole("main").count(), 1, `${lang} ${path}: main`);
        assert.equal(await page.getByRole("navigation", { name: WORDS[lang].nav }).count(), 1, `${lang} ${path}`);
        assert.equal(await page.getByRole("banner").count(), 1, `${lang} ${path}: banner`);
        assert.equal(await page.getByRole("contentinfo").count(), 1, `${lang} ${path}: contentinfo`);
        assert.equal(await page.getByRole("heading", { level: 1 }).count(), 1, `${lang} ${path}: h1`);
        await page.getByRole("heading", { level: 1, name: NAV[lang][i], exact: true }).waitFor();
        // The current section is marked for assistive technology, not only by colour.
        const current = page.getByRole("navigation").getByRole("link", { name: NAV[lang][i], exact: true });
        assert.equal(await current.getAttribute("aria-current"), "page", `${lang} ${path}`);
        assert.equal(await page.getByRole("status").count(), 1, `${lang} ${path}: live region`);
      }
    });
  }
});

test("the campaigns table has a caption and column headers", async () => {
  await withBrowser({ locale: "es-EC" }, async ({ page }) => {
    await visit(page, "/");
    const table = page.getByRole("table", { name: WORDS.es.table });
    const headers = await table.getByRole("columnheader").allInnerTexts();
    assert.deepEqual(
      headers.map((h) => h.trim().toLowerCase()),
      ["nombre", "estado", "progreso", "enviados", "fallidos", "desconocidos", "omitidos", "ritmo", "fin estimado"],
    );
    await page.getByRole("region", { name: WORDS.es.table }).waitFor();
  });
});

test("every navigation link has its name and is reached with Tab, after the skip link", async () => {
  for (const lang of ["es", "en"]) {
    await withBrowser({ locale: LOCALE[lang] }, async ({ page }) => {
      await visit(page, "/");
      const nav = page.getByRole("navigation", { name: WORDS[lang].nav });
      const snapshot = await nav.ariaSnapshot();
      const names = [...snapshot.matchAll(/- link "([^"]+)"/g)].map((m) => m[1]);
      assert.deepEqual(names, NAV[lang], `${lang}: ${snapshot}`);

      // The first Tab lands on the skip link, which moves focus to the content.
      const skip = page.getByRole("link", { name: WORDS[lang].skip });
      await page.keyboard.press("Tab");
      assert.ok(await isFocused(skip), `${lang}: the first Tab reaches the skip link`);
      assert.ok(await skip.isVisible(), `${lang}: the focused skip link is visible`);
      await page.keyboard.press("Enter");
      assert.ok(await isFocused(page.getByRole("main")), `${lang}: the skip link moves focus to main`);

      // From the top again: every link of the navigation, in order, by Tab alone.
      await visit(page, "/");
      let presses = 0;
      for (const name of NAV[lang]) {
        const link = nav.getByRole("link", { name, exact: true });
        let reached = false;
        while (!reached && presses < 40) {
          await page.keyboard.press("Tab");
          presses += 1;
          reached = await isFocused(link);
        }
        assert.ok(reached, `${lang}: Tab never reaches the link ${name}`);
      }
    });
  }
});

test("pages carry the security headers and run with no console error or CSP violation", async () => {
  for (const lang of ["es", "en"]) {
    await withBrowser({ locale: LOCALE[lang] }, async ({ page, problems }) => {
      for (const path of PATHS) {
        const response = await visit(page, path);
        const headers = response.headers();
        assert.equal(headers["content-security-policy"], POLICY, `${path}: CSP`);
        assert.equal(headers["x-frame-options"], "DENY", path);
        assert.equal(headers["referrer-policy"], "same-origin", path);
        assert.equal(headers["x-content-type-options"], "nosniff", path);
        await page.waitForLoadState("networkidle");
        assert.deepEqual(await cspViolations(page), [], `${lang} ${path}: CSP violations`);
      }
      assert.deepEqual(problems, [], `${lang}: console errors, failed requests or error answers`);
    });
  }
});

test("the policy is enforced: an injected inline script does not run", async () => {
  await withBrowser({ locale: "es-EC" }, async ({ page }) => {
    await visit(page, "/");
    await page.evaluate(() => {
      const script = document.createElement("script");
      script.textContent = "window.__inlineRan = true;";
      document.body.append(script);
    });
    assert.equal(await page.evaluate(() => window.__inlineRan === true), false);
    const violations = await cspViolations(page);
    assert.ok(
      violations.some((v) => v.startsWith("script-src")),
      `a script-src violation is reported: ${violations}`,
    );
  });
});

test("static assets load with the immutable cache header", async () => {
  await withBrowser({ locale: "es-EC" }, async ({ page }) => {
    const assets = [];
    page.on("response", (response) => {
      if (new URL(response.url()).pathname.startsWith("/assets/")) assets.push(response);
    });
    await visit(page, "/");
    await page.waitForLoadState("networkidle");
    const paths = assets.map((r) => new URL(r.url()).pathname);
    for (const name of ["app", "api", "confirm", "live"]) {
      assert.ok(
        paths.some((p) => new RegExp(`^/assets/${name}\\.[0-9a-f]{10}\\.js$`).test(p)),
        `${name}.js loads at a hashed URL: ${paths}`,
      );
    }
    assert.ok(paths.some((p) => /^\/assets\/app\.[0-9a-f]{10}\.css$/.test(p)), `the style sheet: ${paths}`);
    for (const response of assets) {
      const headers = response.headers();
      const path = new URL(response.url()).pathname;
      assert.equal(response.status(), 200, path);
      assert.equal(headers["cache-control"], "public, max-age=31536000, immutable", path);
      assert.match(headers["etag"] || "", /^"[0-9a-f]{10}"$/, path);
      const type = path.endsWith(".js") ? "text/javascript" : path.endsWith(".css") ? "text/css" : "image/svg+xml";
      assert.ok((headers["content-type"] || "").startsWith(type), `${path}: ${headers["content-type"]}`);
    }
  });
});

test("axe-core finds no serious or critical violation on any page, wide or narrow", async () => {
  for (const lang of ["es", "en"]) {
    for (const viewport of [
      { width: 1280, height: 800 },
      { width: 390, height: 844 },
    ]) {
      await withBrowser({ locale: LOCALE[lang], viewport }, async ({ page }) => {
        for (const path of PATHS) {
          await visit(page, path);
          const violations = await seriousA11yViolations(page);
          assert.deepEqual(violations, [], `${lang} ${viewport.width}px ${path}`);
        }
      });
    }
  }
});

test("axe-core really checks: a button without a name is reported", async () => {
  await withBrowser({ locale: "es-EC" }, async ({ page }) => {
    await visit(page, "/");
    await page.evaluate(() => document.querySelector("main").append(document.createElement("button")));
    const violations = await seriousA11yViolations(page);
    assert.ok(
      violations.some((v) => v.includes("button-name")),
      `axe reports the nameless button: ${violations}`,
    );
  });
});

test("screenshots of the campaigns page in each language", async () => {
  for (const lang of ["es", "en"]) {
    await withBrowser({ locale: LOCALE[lang] }, async ({ page }) => {
      await visit(page, "/");
      await page.waitForLoadState("networkidle");
      const path = await screenshot(page, `campaigns-${lang}`);
      console.log(`screenshot: ${path}`);
    });
  }
  await withBrowser({ locale: "es-EC", viewport: { width: 390, height: 844 } }, async ({ page }) => {
    await visit(page, "/");
    await page.waitForLoadState("networkidle");
    console.log(`screenshot: ${await screenshot(page, "campaigns-es-narrow")}`);
  });
});
