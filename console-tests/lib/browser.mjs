// Debian's Chromium, driven by playwright-core (no downloaded browser), and what every
// page test needs: a watch on console errors, failed requests and Content-Security-Policy
// violations; axe-core; screenshots.

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

/** The browser: Debian's package, PREGON_CHROMIUM to use another. */
export const CHROMIUM = process.env.PREGON_CHROMIUM || "/usr/bin/chromium";

const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * A fresh Chromium with a fresh profile (its own --user-data-dir), speaking `locale`
 * (its Accept-Language and navigator.language). Resolves to { context, page, problems,
 * close() }: `problems` collects console errors, page errors, failed requests, answers
 * of 400 and more, and CSP violations, for expectNoProblems().
 */
export async function openBrowser({ locale = "es-EC", viewport = { width: 1280, height: 800 } } = {}) {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium, or set PREGON_CHROMIUM`);
  }
  const profile = mkdtempSync(join(tmpdir(), "pregon-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    locale,
    viewport,
  });
  const problems = [];
  // Init scripts are injected by the browser, not by the page: the policy does not apply.
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      (window.__cspViolations ||= []).push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
    });
  });
  const watch = (page) => {
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(`console error: ${message.text()}`);
    });
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("requestfailed", (request) =>
      problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`),
    );
    page.on("response", (response) => {
      if (response.status() >= 400) problems.push(`answer ${response.status()}: ${response.url()}`);
    });
  };
  context.on("page", watch);
  const page = context.pages()[0] || (await context.newPage());
  watch(page);
  const close = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, page, problems, close };
}

/** The CSP violations the page has seen since it loaded. */
export async function cspViolations(page) {
  return page.evaluate(() => window.__cspViolations || []);
}

/**
 * Runs axe-core on the page and returns its serious and critical violations, each as a
 * line naming the rule and the offending markup. Injected through the DevTools protocol
 * (page.evaluate), as the page's policy refuses inline scripts.
 */
export async function seriousA11yViolations(page) {
  await page.evaluate(AXE_SOURCE);
  const results = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => n.html),
    }));
  });
  return results
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.impact} ${v.id} (${v.help}): ${v.nodes.join(" | ")}`);
}

/** Where screenshots go: PREGON_SCREENSHOTS, else a temporary directory. */
export function screenshotDir() {
  const dir = process.env.PREGON_SCREENSHOTS || join(tmpdir(), "pregon-screenshots");
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** A full-page screenshot `name`.png in screenshotDir(); returns its path. */
export async function screenshot(page, name) {
  const path = join(screenshotDir(), `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
