// What global-setup started, for the tests.

import { execFileSync } from "node:child_process";
import { expect, Page } from "@playwright/test";

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: global-setup did not run`);
  return value;
}

export const instanceA = () => required("INSTANCE_A");
export const instanceB = () => required("INSTANCE_B");
/// The tests' Redis, for instances a test starts of its own.
export const redisUrl = () => `redis://127.0.0.1:${required("REDIS_PORT")}`;

/// Runs one command against the tests' Redis and returns its answer.
export function redisCli(...args: string[]): string {
  return execFileSync("redis-cli", ["-p", required("REDIS_PORT"), ...args]).toString().trim();
}

/// Waits until the page's WebAssembly has hydrated it: only an effect in the
/// browser sets this marker, so the server-rendered HTML alone never passes.
export async function waitForHydration(page: Page) {
  await expect(page.locator('main[data-hydrated="true"]')).toBeAttached();
}
