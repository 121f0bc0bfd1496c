import { expect, Page, test } from "@playwright/test";
import { instanceA, waitForHydration } from "../support/env";
import { SUMMARY } from "../support/fake-model";

async function startSession(page: Page, title: string) {
  await page.goto(instanceA());
  await waitForHydration(page);
  await page.getByLabel("Title").fill(title);
  await page.getByLabel("Your name").fill("Tess");
  await page.getByRole("button", { name: "Start a session" }).click();
  const link = await page.getByTestId("tutor-link").getAttribute("href");
  await page.goto(`${instanceA()}${link}`);
  await waitForHydration(page);
  await expect(page.getByTestId("connection-state")).toHaveAttribute("data-state", "online");
}

async function say(page: Page, text: string) {
  await page.getByLabel("Message").fill(text);
  await page.getByRole("button", { name: "Send" }).click();
  await expect(page.getByTestId("message").locator(".text").last()).toHaveText(text);
}

test("a participant asks for a report, watches the progress bar move and reads the report", async ({ page }) => {
  await startSession(page, "Fractions");
  await say(page, "What is a half plus a quarter?");
  await say(page, "Think of quarters first.");

  await page.getByTestId("generate-report").click();

  // The bar moves while the model writes, pushed from the server.
  const bar = page.getByTestId("report-progress").locator("progress");
  await expect(page.getByTestId("report-step")).toContainText("Model writing");
  const first = Number(await bar.getAttribute("value"));
  await expect.poll(async () => Number((await bar.getAttribute("value")) ?? 0)).toBeGreaterThan(first);

  await expect(page.getByTestId("report-summary")).toHaveText(SUMMARY);
  await expect(page.getByTestId("report-origin")).toContainText("Written by gpt-4o-mini");
  await expect(page.getByTestId("report-participants")).toContainText("Tess");
  await expect(page.getByTestId("report-progress")).toHaveCount(0);

  // The report is stored: a reload shows it again, without a new job.
  await page.reload();
  await waitForHydration(page);
  await expect(page.getByTestId("report-summary")).toHaveText(SUMMARY);
  await expect(page.getByTestId("regenerate-report")).toBeVisible();
});
