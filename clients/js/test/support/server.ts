/**
 * The real `beacon serve` process for the client's tests: a temporary data
 * directory, `--listen 127.0.0.1:0` (the address is read from the line the
 * server prints on stdout), the admin token in `BEACON_ADMIN_TOKEN`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";

const LISTENING = "beacon listening on http://";
const STARTUP_TIMEOUT_MS = 30_000;

/** `$BEACON_BIN`, else `<repo>/target/debug/beacon` (tests run from `clients/js`). */
export function beaconBin(): string {
  const fromEnv = process.env["BEACON_BIN"];
  const bin = fromEnv ? path.resolve(fromEnv) : path.resolve(process.cwd(), "../../target/debug/beacon");
  if (!existsSync(bin)) {
    throw new Error(
      `${bin} not found: build the server (cargo build -p beacon --bin beacon) or set BEACON_BIN`,
    );
  }
  return bin;
}

const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

export interface Tenant {
  id: string;
  apiKey: string;
}

export class BeaconServer {
  readonly adminToken = `test-admin-${randomBytes(12).toString("hex")}`;
  readonly dataDir: string;
  private child: ChildProcess | undefined;
  private addr: string | undefined;
  private logs: string[] = [];

  private constructor(private readonly extraArgs: string[]) {
    this.dataDir = mkdtempSync(path.join(tmpdir(), "beacon-js-client-"));
  }

  /** Starts a server; `args` are more `serve` flags (e.g. `["--retry", "100ms"]`). */
  static async start(args: string[] = []): Promise<BeaconServer> {
    const server = new BeaconServer(args);
    await server.spawn("127.0.0.1:0");
    return server;
  }

  /** `http://<addr>` of the running incarnation. */
  get url(): string {
    if (!this.addr) throw new Error("beacon is not running");
    return `http://${this.addr}`;
  }

  /** What the process wrote to stderr (every incarnation), for failing tests. */
  get stderr(): string {
    return this.logs.join("");
  }

  private async spawn(listen: string): Promise<void> {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) {
      if (!k.startsWith("BEACON_")) env[k] = v;
    }
    env["BEACON_ADMIN_TOKEN"] = this.adminToken;
    const child = spawn(
      beaconBin(),
      [
        "serve",
        "--listen",
        listen,
        "--data-dir",
        this.dataDir,
        "--heartbeat",
        "1s",
        "--builtin-catalog",
        "false",
        "--shutdown-grace",
        "2s",
        ...this.extraArgs,
      ],
      { env, stdio: ["ignore", "pipe", "pipe"] },
    );
    running.add(child);
    child.on("exit", () => running.delete(child));
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (text: string) => {
      this.logs.push(text);
    });
    this.child = child;
    const lines = createInterface({ input: child.stdout! });
    this.addr = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`beacon did not start within ${STARTUP_TIMEOUT_MS} ms:\n${this.stderr}`));
      }, STARTUP_TIMEOUT_MS);
      lines.on("line", (line) => {
        if (line.startsWith(LISTENING)) {
          clearTimeout(timer);
          resolve(line.slice(LISTENING.length).trim().replace(/\/$/, ""));
        }
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`beacon exited (${code ?? signal}) before listening:\n${this.stderr}`));
      });
    });
  }

  /** Kills the process (SIGKILL by default: a crash) and waits for it to exit. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill(signal);
      await exited;
    }
  }

  /**
   * Starts the server again on the same data directory, on the same address
   * when it is free (else on a new port: `url` changes).
   */
  async restart(): Promise<void> {
    const previous = this.addr;
    await this.kill();
    try {
      await this.spawn(previous ?? "127.0.0.1:0");
    } catch {
      await this.spawn("127.0.0.1:0");
    }
  }

  /** Stops the process and removes its data. */
  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  private async request(
    method: string,
    route: string,
    bearer: string,
    body?: unknown,
  ): Promise<{ status: number; json: any }> {
    const response = await fetch(`${this.url}${route}`, {
      method,
      headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, json: text ? JSON.parse(text) : undefined };
  }

  /** Creates a tenant that may publish types without a contract. */
  async createTenant(id = `t-${randomBytes(4).toString("hex")}`): Promise<Tenant> {
    const { status, json } = await this.request("POST", "/v1/tenants", this.adminToken, {
      id,
      allow_unregistered_types: true,
    });
    if (status !== 201) throw new Error(`create tenant: ${status} ${JSON.stringify(json)}`);
    return { id, apiKey: json.api_key };
  }

  /** Mints a subscriber token. */
  async token(tenant: Tenant, body: { sub: string; ttl_s?: number; types?: string[] }): Promise<string> {
    const { status, json } = await this.request("POST", "/v1/tokens", tenant.apiKey, body);
    if (status !== 200) throw new Error(`mint token: ${status} ${JSON.stringify(json)}`);
    return json.token as string;
  }

  /** Publishes events (one request) and returns their ids. */
  async publish(
    tenant: Tenant,
    events: { type: string; data: unknown; subject?: string }[],
  ): Promise<string[]> {
    const { status, json } = await this.request("POST", "/v1/events", tenant.apiKey, events);
    if (status !== 201) throw new Error(`publish: ${status} ${JSON.stringify(json)}`);
    return json.ids as string[];
  }
}
