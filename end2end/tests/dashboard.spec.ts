// The queue dashboard at /admin/queues, against real instances: jobs made
// through the session page and written by the fake model, steered from the
// dashboard, watched live. The production-mode tests start an instance of
// their own with APP_ENV=production.

import { ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { expect, Page, test } from "@playwright/test";
import { instanceA, redisUrl, waitForHydration } from "../support/env";
import { startInstance, stateDir } from "../support/processes";
import { openAsTutor, say } from "../support/session";

// Later tests use what earlier ones left in the queue (finished jobs).
test.describe.configure({ mode: "serial" });

const TOKEN = "e2e-admin-token-long-enough";

// The queue is shared with the other spec files: never leave it paused,
// even when a test fails half-way.
test.afterAll(async ({ request }) => {
  await request.post(`${instanceA()}/api/admin/action`, { data: { action: { action: "resume" } } });
});

async function openDashboard(page: Page, base = instanceA()) {
  await page.goto(`${base}/admin/queues`);
  await waitForHydration(page);
  await expect(page.getByTestId("live-state")).toHaveAttribute("data-state", "live");
}

/// Starts a session on instance A, says `text` in it and asks for a report;
/// returns the session id.
async function reportFor(page: Page, title: string, text: string): Promise<string> {
  await openAsTutor(page, title);
  await say(page, text);
  await page.getByTestId("generate-report").click();
  return new URL(page.url()).pathname.split("/")[2];
}

async function count(page: Page, state: string): Promise<number> {
  return Number(await page.getByTestId(`count-${state}`).textContent());
}

test("a job failed through the fake model shows its error, and a retry after healing completes it", async ({
  page,
  context,
}) => {
  const lesson = await context.newPage();
  const session = await reportFor(lesson, "Refused lesson", "Please [refuse] to write this one");
  await expect(lesson.getByTestId("report-progress")).toHaveAttribute("data-status", "failed");

  await openDashboard(page);
  await expect(page.getByTestId("dev-banner")).toBeVisible();
  await page.getByTestId("tab-failed").click();
  await page.getByTestId("job-filter").fill(session);
  await page.getByTestId("job-filter").press("Enter");
  const job = page.locator(`[data-job="report-${session}"]`);
  await expect(job.getByTestId("job-error")).toContainText("the model provider refused the request");
  await expect(page.getByTestId("job")).toHaveCount(1);

  await job.getByRole("button", { name: `report-${session}` }).click();
  const detail = page.getByTestId("job-detail");
  await expect(detail.getByTestId("detail-state")).toHaveText("failed");
  await expect(detail.getByTestId("detail-error")).toContainText("refused");
  await expect(detail.getByTestId("detail-timeline")).toContainText("created");
  await expect(detail.getByTestId("detail-timeline")).toContainText("failed (attempt 1)");
  await expect(detail.getByTestId("detail-payload")).toContainText(session);
  await expect(detail.getByTestId("detail-instance")).toContainText("e2e-");

  // Heal the model, then retry from the job's page: it runs and completes.
  const healed = await fetch(`${process.env.MODEL_URL}/control/heal`, { method: "POST" });
  expect(healed.status).toBe(204);
  await detail.getByTestId("detail-retry").click();
  await expect(page.getByTestId("action-outcome")).toContainText("back in line");
  await expect(detail.getByTestId("detail-state")).toHaveText("completed", { timeout: 30_000 });
  await expect(detail.getByTestId("detail-result")).toContainText("version");
  await expect(detail.getByTestId("detail-attempts")).toContainText("failed: the model provider refused");
  await expect(detail.getByTestId("detail-attempts")).toContainText("completed with");
});

test("live counts and progress bars change while a job runs, without a reload", async ({ page, context }) => {
  await openDashboard(page);
  await page.getByTestId("tab-active").click();
  const completed = await count(page, "completed");

  const lesson = await context.newPage();
  const session = await reportFor(lesson, "Live lesson", "How many quarters make a whole?");

  const row = page.locator(`[data-job="report-${session}"]`);
  await expect(page.getByTestId("count-active")).toHaveText("1");
  await expect(row).toBeVisible();
  const bar = row.locator("progress");
  await expect.poll(async () => Number(await bar.getAttribute("value"))).toBeGreaterThan(30);
  await expect(page.getByTestId("count-completed")).toHaveText(String(completed + 1), { timeout: 30_000 });
  await expect(page.getByTestId("count-active")).toHaveText("0");
});

test("pause stops new work and resume restarts it", async ({ page, context }) => {
  await openDashboard(page);
  await page.getByTestId("pause").click();
  await expect(page.getByTestId("confirm")).toContainText("Pause the queue");
  await page.getByTestId("confirm-yes").click();
  await expect(page.getByTestId("action-outcome")).toContainText("Queue paused");
  await expect(page.getByTestId("queue-paused")).toHaveAttribute("data-paused", "true");

  const waiting = await count(page, "waiting");
  const completed = await count(page, "completed");
  const lesson = await context.newPage();
  const session = await reportFor(lesson, "Paused lesson", "What is two thirds of nine?");

  await expect(page.getByTestId("count-waiting")).toHaveText(String(waiting + 1));
  await page.getByTestId("tab-waiting").click();
  const row = page.locator(`[data-job="report-${session}"]`);
  await expect(row).toHaveAttribute("data-state", "waiting");
  // Nothing starts while the queue is paused.
  await page.waitForTimeout(2_000);
  await expect(row).toHaveAttribute("data-state", "waiting");
  await expect(page.getByTestId("count-active")).toHaveText("0");

  await page.getByTestId("resume").click();
  await expect(page.getByTestId("action-outcome")).toContainText("Queue resumed");
  await expect(page.getByTestId("queue-paused")).toHaveAttribute("data-paused", "false");
  await expect(page.getByTestId("count-completed")).toHaveText(String(completed + 1), { timeout: 30_000 });
  await expect(lesson.getByTestId("report-summary")).toBeVisible();
});

test("the dashboard is usable at 1280 px and at 390 px wide", async ({ page }) => {
  const overflow = () =>
    page.evaluate(() => document.scrollingElement!.scrollWidth - window.innerWidth);
  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: 900 });
    await openDashboard(page);
    // The controls are on screen without scrolling sideways.
    await expect(page.getByTestId("pause")).toBeInViewport();
    await expect(page.getByTestId("tab-failed")).toBeVisible();
    const chart = await page.getByTestId("throughput-chart").boundingBox();
    expect(chart!.width).toBeGreaterThan(width / 2);
    expect(chart!.width).toBeLessThanOrEqual(width);
    expect(await overflow(), `sideways overflow at ${width} px`).toBeLessThanOrEqual(0);

    // Nor with a job open, the widest content the page has.
    await page.getByTestId("tab-completed").click();
    await page.getByTestId("job").first().getByRole("button").first().click();
    await expect(page.getByTestId("job-detail")).toBeVisible();
    await expect(page.getByTestId("detail-payload")).toBeVisible();
    expect(await overflow(), `sideways overflow at ${width} px with a job open`).toBeLessThanOrEqual(0);
    await page.screenshot({ path: `test-results/dashboard-${width}.png`, fullPage: true });
  }
});

test("clean empties the completed jobs, after a confirmation that can be cancelled", async ({ page }) => {
  await openDashboard(page);
  await page.getByTestId("tab-completed").click();
  await expect(page.getByTestId("job").first()).toBeVisible();

  await page.getByTestId("clean").click();
  await expect(page.getByTestId("confirm")).toContainText("Delete every completed job");
  await page.getByTestId("confirm-no").click();
  await expect(page.getByTestId("confirm")).toHaveCount(0);
  await expect(page.getByTestId("job").first()).toBeVisible();
  expect(await count(page, "completed")).toBeGreaterThan(0);

  await page.getByTestId("clean").click();
  await page.getByTestId("confirm-yes").click();
  await expect(page.getByTestId("action-outcome")).toContainText(/\d+ completed jobs? deleted/);
  await expect(page.getByTestId("count-completed")).toHaveText("0");
  await expect(page.getByTestId("no-jobs")).toBeVisible();
});

test.describe("in production", () => {
  let prod: { url: string; process: ChildProcess };
  let off: { url: string; process: ChildProcess };

  test.beforeAll(async () => {
    const shared = { REDIS_URL: redisUrl(), APP_ENV: "production", ROLE: "web" };
    prod = await startInstance("prod", { ...shared, ADMIN_TOKEN: TOKEN });
    off = await startInstance("prod-off", shared);
  });

  test.afterAll(() => {
    prod?.process.kill("SIGTERM");
    off?.process.kill("SIGTERM");
  });

  test("the page asks to sign in, and reads and actions without the cookie are refused", async ({ page, request }) => {
    const log = fs.readFileSync(path.join(stateDir, "instance-prod.log"), "utf8");
    expect(log).toContain(`Queue dashboard available at ${prod.url}/admin/queues`);

    await page.goto(`${prod.url}/admin/queues`);
    await waitForHydration(page);
    await expect(page.getByTestId("sign-in")).toBeVisible();
    await expect(page.getByTestId("job-list")).toHaveCount(0);
    await expect(page.getByTestId("dev-banner")).toHaveCount(0);

    // Plain HTTP, without the cookie: every read and action is refused.
    const form = { state: "failed", page: "0", per_page: "20", filter: "" };
    for (const route of ["overview", "jobs", "job", "live"]) {
      const response = await request.post(`${prod.url}/api/admin/${route}`, { form: { ...form, id: "x" } });
      expect(response.status(), route).toBe(403);
    }
    const pause = { data: { action: { action: "pause" } } };
    expect((await request.post(`${prod.url}/api/admin/action`, pause)).status()).toBe(403);
    const foreign = await request.post(`${prod.url}/api/admin/action`, {
      ...pause,
      headers: { Origin: "https://attacker.example" },
    });
    expect(foreign.status()).toBe(403);

    // A wrong token is refused; the right one opens the dashboard.
    await page.getByLabel("Admin token").fill("not-the-admin-token");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByTestId("sign-in-error")).toContainText("not the admin token");
    await page.getByLabel("Admin token").fill(TOKEN);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByTestId("live-state")).toHaveAttribute("data-state", "live");
    await expect(page.getByTestId("sign-out")).toBeVisible();

    const cookie = (await page.context().cookies()).find((c) => c.name === "queue_admin");
    expect(cookie).toBeDefined();
    expect(cookie!.httpOnly).toBe(true);
    expect(cookie!.secure).toBe(true);
    expect(cookie!.sameSite).toBe("Strict");

    // Even with the session cookie, a request from another origin may not
    // change anything.
    const forged = await request.post(`${prod.url}/api/admin/action`, {
      ...pause,
      headers: { Cookie: `queue_admin=${cookie!.value}`, Origin: "https://attacker.example" },
    });
    expect(forged.status()).toBe(403);
    const allowed = await request.post(`${prod.url}/api/admin/overview`, {
      headers: { Cookie: `queue_admin=${cookie!.value}` },
    });
    expect(allowed.status()).toBe(200);
    await expect(page.getByTestId("queue-paused")).toHaveAttribute("data-paused", "false");

    // After a reload the session holds; signing out ends it in this browser.
    await page.reload();
    await waitForHydration(page);
    await expect(page.getByTestId("sign-out")).toBeVisible();
    await page.getByTestId("sign-out").click();
    await expect(page.getByTestId("sign-in")).toBeVisible();
  });

  test("without ADMIN_TOKEN the dashboard is off and the start-up log says so", async ({ page, request }) => {
    const log = fs.readFileSync(path.join(stateDir, "instance-prod-off.log"), "utf8");
    expect(log).toContain("Queue dashboard is off");
    await page.goto(`${off.url}/admin/queues`);
    await expect(page.getByTestId("dashboard-off")).toBeVisible();
    expect((await request.post(`${off.url}/api/admin/overview`)).status()).toBe(404);
  });
});
