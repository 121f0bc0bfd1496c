// Real processes for the browser tests: a redis-server on a free port and
// server instances built by `cargo leptos build`, each on a free port of its
// own, with their logs in end2end/.state/.

import { ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";

export const projectRoot = path.resolve(__dirname, "..", "..");
export const stateDir = path.resolve(__dirname, "..", ".state");

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not come up within ${timeoutMs} ms`);
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

function logTo(name: string): number {
  fs.mkdirSync(stateDir, { recursive: true });
  return fs.openSync(path.join(stateDir, `${name}.log`), "w");
}

export async function startRedis(): Promise<{ port: number; process: ChildProcess }> {
  const port = await freePort();
  const dir = path.join(stateDir, `redis-${port}`);
  fs.mkdirSync(dir, { recursive: true });
  const log = logTo("redis");
  const child = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir],
    { stdio: ["ignore", log, log] },
  );
  await waitUntil(`redis-server on port ${port}`, () => portOpen(port));
  return { port, process: child };
}

/// Starts an instance on a free port, or on `port` to bring one back where
/// it was.
export async function startInstance(
  name: string,
  env: Record<string, string>,
  port?: number,
): Promise<{ url: string; port: number; process: ChildProcess }> {
  port ??= await freePort();
  const binary = path.join(projectRoot, "target", "debug", "server");
  if (!fs.existsSync(binary)) {
    throw new Error(`${binary} is missing: run 'cargo leptos build' first`);
  }
  const log = logTo(`instance-${name}`);
  const child = spawn(binary, [], {
    cwd: projectRoot,
    env: {
      ...process.env,
      LISTEN_ADDR: `127.0.0.1:${port}`,
      INSTANCE_ID: `e2e-${name}`,
      LEPTOS_SITE_ROOT: path.join(projectRoot, "target", "site"),
      RUST_LOG: process.env.RUST_LOG ?? "info",
      ...env,
    },
    stdio: ["ignore", log, log],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(`instance ${name} at ${url}`, async () => (await fetch(`${url}/healthz`)).ok);
  return { url, port, process: child };
}
