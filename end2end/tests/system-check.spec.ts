import { expect, test } from "@playwright/test";
import { instanceA, redisCli, waitForHydration } from "../support/env";

test("a note stored from the hydrated page goes through Redis and comes back", async ({ page }) => {
  await page.goto(instanceA());
  await waitForHydration(page);

  const note = `note-${Date.now()}`;
  await page.getByLabel("Note").fill(note);
  await page.getByRole("button", { name: "Store in Redis" }).click();

  await expect(page.getByTestId("round-trip-result")).toContainText(`Redis returned \u201c${note}\u201d`);
  expect(redisCli("GET", "syscheck:note")).toBe(note);
});

test("an address that leads nowhere gets a 404 page", async ({ page }) => {
  const response = await page.goto(`${instanceA()}/no/such/page`);
  expect(response?.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
});
