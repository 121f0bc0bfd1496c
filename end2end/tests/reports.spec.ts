import { expect, test } from "@playwright/test";
import { waitForHydration } from "../support/env";
import { SUMMARY } from "../support/fake-model";
import { openAsTutor, say } from "../support/session";

test("a participant asks for a report, watches the progress bar move and reads the report", async ({ page }) => {
  await openAsTutor(page, "Fractions");
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
