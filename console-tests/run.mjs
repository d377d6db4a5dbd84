#!/usr/bin/env node
// pregon's console in a real browser. Runs every tests/*.test.mjs with node's test
// runner, one file at a time; each file starts its own `pregon serve` on a fresh database
// (lib/pregon.mjs) and its own Chromium (lib/browser.mjs). Exits non-zero on any failure.
//
//   cargo build -p pregon && npm ci --prefix console-tests && npm test --prefix console-tests
//
// Settings (environment):
//   PREGON_BIN          the binary to test (default target/debug/pregon); nothing is built
//   PREGON_CHROMIUM     the browser (default /usr/bin/chromium, Debian's package)
//   PREGON_SCREENSHOTS  where screenshots go (default a new temporary directory)

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { CHROMIUM } from "./lib/browser.mjs";
import { pregonBinary } from "./lib/pregon.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const binary = pregonBinary();
if (!existsSync(binary)) {
  console.error(`console-tests: no pregon binary at ${binary}; run \`cargo build -p pregon\` or set PREGON_BIN`);
  process.exit(2);
}
if (!existsSync(CHROMIUM)) {
  console.error(`console-tests: no Chromium at ${CHROMIUM}; run \`apt-get install -y chromium\` or set PREGON_CHROMIUM`);
  process.exit(2);
}
const screenshots = process.env.PREGON_SCREENSHOTS || mkdtempSync(join(tmpdir(), "pregon-screenshots-"));
const files = readdirSync(join(here, "tests"))
  .filter((f) => f.endsWith(".test.mjs"))
  .sort()
  .map((f) => join(here, "tests", f));

console.log(`console-tests: ${binary}, ${CHROMIUM}, ${files.length} files; screenshots in ${screenshots}`);
const started = Date.now();
const run = spawnSync(
  process.execPath,
  ["--test", "--test-concurrency=1", "--test-timeout=300000", "--test-reporter=spec", ...files],
  { stdio: "inherit", env: { ...process.env, PREGON_BIN: binary, PREGON_SCREENSHOTS: screenshots } },
);
const seconds = ((Date.now() - started) / 1000).toFixed(1);
console.log(`console-tests: finished in ${seconds} s; screenshots in ${screenshots}`);
process.exit(run.status === null ? 1 : run.status);
