// Starts the real `pregon serve` for a test file: a free loopback port, a fresh SQLite
// database in a temporary directory, the bootstrap API key below. Waits for /health.
//
// The binary is PREGON_BIN (default target/debug/pregon from the repository root); this
// harness builds nothing.

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, closeSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository's root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The API key of the tenant `default`, set through PREGON_BOOTSTRAP_API_KEY. */
export const API_KEY = "pgn_console_tests_0123456789";

/** The tenant's first owner, set through PREGON_BOOTSTRAP_EMAIL and _PASSWORD. */
export const OWNER = { email: "duena@example.com", password: "una clave larga de prueba" };

/** The pregon binary the tests run. */
export function pregonBinary() {
  return resolve(ROOT, process.env.PREGON_BIN || "target/debug/pregon");
}

async function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.unref();
    server.on("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

/** A free loopback port, for a server a test starts (pregon, the simulator). */
export { freePort };

/**
 * Starts the provider simulator (`pregon simulate`) on a free port, with `args` (flags
 * such as ["--fail-numbers", "+593990000001"]). Its Meta webhooks go to `webhookUrl`
 * (pregon's /webhooks/meta), signed with SIMULATOR.appSecret. Resolves to
 * { url, metaBaseUrl, sender(overrides), log(), stop() } once it answers /stats;
 * sender() is the body of a POST /api/v1/senders pointing at it.
 */
export async function startSimulator({ webhookUrl, args = [] } = {}) {
  const binary = pregonBinary();
  const dir = mkdtempSync(join(tmpdir(), "pregon-simulator-"));
  const port = await freePort();
  const logPath = join(dir, "simulator.log");
  const logFd = openSync(logPath, "w");
  const flags = [
    "simulate",
    "--listen",
    `127.0.0.1:${port}`,
    "--access-tokens",
    SIMULATOR.accessToken,
    "--app-secret",
    SIMULATOR.appSecret,
    "--latency-ms",
    "5",
    "--latency-jitter-ms",
    "0",
    "--sent-delay-ms",
    "20",
    "--delivered-delay-ms",
    "40",
    "--read-delay-ms",
    "60",
    ...(webhookUrl ? ["--webhook-url", webhookUrl] : []),
    ...args,
  ];
  const child = spawn(binary, flags, { cwd: dir, env: { ...process.env }, stdio: ["ignore", logFd, logFd] });
  closeSync(logFd);
  let exited = null;
  child.on("exit", (code, signal) => {
    exited = { code, signal };
  });
  const url = `http://127.0.0.1:${port}`;
  const log = () => (existsSync(logPath) ? readFileSync(logPath, "utf8") : "");
  const stop = async () => {
    if (exited === null) {
      child.kill("SIGTERM");
      for (let i = 0; i < 100 && exited === null; i++) await sleep(50);
      if (exited === null) child.kill("SIGKILL");
    }
    rmSync(dir, { recursive: true, force: true });
  };
  await waitFor(`${url}/stats`, () => exited, log, stop, "pregon simulate");
  const metaBaseUrl = `${url}/v21.0`;
  const sender = (overrides = {}) => ({
    name: "Simulador",
    provider: "meta",
    phone_number: "+593995683452",
    credentials: {
      access_token: SIMULATOR.accessToken,
      phone_number_id: "1142",
      waba_id: "100000000000001",
      app_secret: SIMULATOR.appSecret,
    },
    base_url: metaBaseUrl,
    messages_per_second: 20,
    ...overrides,
  });
  return { url, metaBaseUrl, sender, log, stop };
}

/** The simulator's credentials: a Meta sender must use these to be accepted. */
export const SIMULATOR = { accessToken: "sim-token", appSecret: "sim-secret" };

/** Polls `url` until it answers 200; fails with the process's log if it exits or 30 s pass. */
async function waitFor(url, exitedOf, log, stop, what) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exitedOf() !== null) {
      const output = log();
      await stop();
      throw new Error(`${what} exited (${JSON.stringify(exitedOf())}) before answering ${url}:\n${output}`);
    }
    try {
      const response = await fetch(url);
      if (response.status === 200) return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      const output = log();
      await stop();
      throw new Error(`${what} did not answer ${url} within 30 s:\n${output}`);
    }
    await sleep(100);
  }
}

/**
 * Starts pregon. Resolves to { url, apiKey, log(), stop(), api(), createUser() } once
 * /health answers 200. `env` adds or overrides settings.
 */
export async function startPregon(env = {}) {
  const binary = pregonBinary();
  if (!existsSync(binary)) {
    throw new Error(`no pregon binary at ${binary}: build it (cargo build -p pregon) or set PREGON_BIN`);
  }
  const dir = mkdtempSync(join(tmpdir(), "pregon-console-"));
  const port = await freePort();
  const logPath = join(dir, "pregon.log");
  const logFd = openSync(logPath, "w");
  const child = spawn(binary, ["serve"], {
    cwd: dir,
    env: {
      ...process.env,
      PREGON_DATABASE_URL: `sqlite://${join(dir, "pregon.db")}`,
      PREGON_LISTEN: `127.0.0.1:${port}`,
      PREGON_BOOTSTRAP_API_KEY: API_KEY,
      PREGON_BOOTSTRAP_EMAIL: OWNER.email,
      PREGON_BOOTSTRAP_PASSWORD: OWNER.password,
      PREGON_SANDBOX_LATENCY_MS: "0",
      PREGON_LOG: process.env.PREGON_LOG || "warn",
      ...env,
    },
    stdio: ["ignore", logFd, logFd],
  });
  closeSync(logFd);
  let exited = null;
  child.on("exit", (code, signal) => {
    exited = { code, signal };
  });
  const url = `http://127.0.0.1:${port}`;
  const log = () => (existsSync(logPath) ? readFileSync(logPath, "utf8") : "");
  const stop = async () => {
    if (exited === null) {
      child.kill("SIGTERM");
      for (let i = 0; i < 100 && exited === null; i++) await sleep(50);
      if (exited === null) child.kill("SIGKILL");
      for (let i = 0; i < 40 && exited === null; i++) await sleep(50);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  await waitFor(`${url}/health`, () => exited, log, stop, "pregon serve");
  /** Calls the API with the owner's key; resolves to { status, body }. */
  const api = async (method, path, body) => {
    const response = await fetch(url + path, {
      method,
      headers: {
        authorization: `Bearer ${API_KEY}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON (a CSV, an empty body): the text.
    }
    return { status: response.status, body: parsed };
  };
  let made = 0;
  /** A new person of `role` (viewer, operator, admin, owner); resolves to { email, password }. */
  const createUser = async (role, { name } = {}) => {
    made += 1;
    const person = { email: `${role}${made}@example.com`, password: `clave de ${role} número ${made}` };
    const { status, body } = await api("POST", "/api/v1/users", {
      email: person.email,
      name: name || `${role} ${made}`,
      role,
      password: person.password,
    });
    if (status !== 201) throw new Error(`creating a ${role}: ${status} ${JSON.stringify(body)}`);
    return { ...person, id: body.id };
  };
  return { url, apiKey: API_KEY, log, stop, api, createUser };
}

/**
 * Signs `person` ({ email, password }, the owner by default) in through the console's
 * login form, as a person would: by the fields' labels and the button's name, in either
 * language. Resolves once the page signed in to has loaded.
 */
export async function signIn(page, pregon, person = OWNER, next = "/") {
  await page.goto(`${pregon.url}/login?next=${encodeURIComponent(next)}`);
  await page.getByLabel(/^(Correo electrónico|Email)$/).fill(person.email);
  await page.getByLabel(/^(Contraseña|Password)$/).fill(person.password);
  await Promise.all([
    page.waitForURL((url) => url.pathname !== "/login"),
    page.getByRole("button", { name: /^(Entrar|Sign in)$/ }).click(),
  ]);
}
