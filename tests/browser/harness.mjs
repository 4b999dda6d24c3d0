// The pieces the browser tests share: the real `beacon serve` process
// (stopped and started again on the same data directory and port), the API
// as a tenant or the admin would call it, and headless Chromium from
// Debian's package driven by playwright-core.

import { spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const BEACON_BIN = process.env.BEACON_BIN ?? path.join(ROOT, "target/debug/beacon");
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
export const SHOTS = process.env.SCREENSHOT_DIR ?? path.join(ROOT, "target/browser-screenshots");
export const PLUGINS = path.join(ROOT, "target/plugins");

const LISTENING = "beacon listening on http://";

/** A real `beacon serve` with its own data directory. */
export class Beacon {
  constructor() {
    this.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "beacon-browser-data-"));
    this.logPath = path.join(this.dataDir, "..", `${path.basename(this.dataDir)}.log`);
    this.adminToken = `browser-admin-${process.pid}-${Date.now()}`;
    this.child = null;
    this.addr = null;
    this.starts = 0;
  }

  get url() {
    return `http://${this.addr}`;
  }

  /** Starts the server: on a free port the first time, then on the same one. */
  async start() {
    const listen = this.addr ?? "127.0.0.1:0";
    this.starts += 1;
    const log = fs.openSync(this.logPath, "a");
    fs.writeSync(log, `===== start #${this.starts}: --listen ${listen} =====\n`);
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("BEACON_")));
    env.BEACON_ADMIN_TOKEN = this.adminToken;
    const child = spawn(BEACON_BIN, [
      "serve",
      "--listen", listen,
      "--data-dir", this.dataDir,
      "--heartbeat", "1s",
      "--builtin-catalog", "true",
      "--shutdown-grace", "2s",
    ], { env, stdio: ["ignore", "pipe", log] });
    fs.closeSync(log);
    this.child = child;
    const lines = readline.createInterface({ input: child.stdout });
    const addr = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`beacon did not start within 30 s:\n${this.logs()}`)), 30_000);
      lines.on("line", (line) => {
        if (line.startsWith(LISTENING)) {
          clearTimeout(timer);
          resolve(line.slice(LISTENING.length).trim().replace(/\/$/, ""));
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`beacon exited (${code}) before listening:\n${this.logs()}`));
      });
    });
    this.addr = addr;
    return this;
  }

  /** Graceful stop (SIGTERM), waiting for the process to exit. */
  async stop() {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    await exited;
    clearTimeout(timer);
    this.child = null;
  }

  logs() {
    try {
      return fs.readFileSync(this.logPath, "utf8");
    } catch {
      return "";
    }
  }

  async cleanup() {
    await this.stop();
    fs.rmSync(this.dataDir, { recursive: true, force: true });
    fs.rmSync(this.logPath, { force: true });
  }

  /** Calls the API; answers `{status, headers, body}` (body parsed when JSON). */
  async call(method, route, { credential, json, body, contentType } = {}) {
    const headers = {};
    if (credential) headers.authorization = `Bearer ${credential}`;
    if (json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(json);
    } else if (contentType) {
      headers["content-type"] = contentType;
    }
    const response = await fetch(`${this.url}${route}`, { method, headers, body });
    const text = await response.text();
    let parsed = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON.
    }
    return { status: response.status, headers: response.headers, body: parsed };
  }

  /** A call that must answer `status`. */
  async expect(status, method, route, options) {
    const answer = await this.call(method, route, options);
    if (answer.status !== status) {
      throw new Error(`${method} ${route}: expected ${status}, got ${answer.status} ${JSON.stringify(answer.body)}`);
    }
    return answer.body;
  }

  async createTenant(id) {
    return this.expect(201, "POST", "/v1/tenants", { credential: this.adminToken, json: { id } });
  }
}

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
 * Chromium with a fresh profile directory (`--user-data-dir`, which
 * playwright-core passes for a persistent context).
 */
export async function launchBrowser(viewport = { width: 1366, height: 900 }) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "beacon-browser-profile-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport,
    colorScheme: "light",
    timeout: 30_000,
  });
  const close = async () => {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { context, close };
}

/** Saves a screenshot of the page (scrolled to the top) as `<name>.png`. */
export async function screenshot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.evaluate(() => window.scrollTo(0, 0));
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Waits until `read()` answers something `ok` accepts; answers it. */
export async function eventually(read, ok, { timeout = 15_000, interval = 100, what = "a condition" } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await read();
    if (ok(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** The integer shown in an element (digits only, "1,234" → 1234). */
export async function numberIn(page, selector) {
  const text = await page.textContent(selector);
  const digits = (text ?? "").replace(/[^0-9]/g, "");
  return digits ? Number(digits) : NaN;
}
