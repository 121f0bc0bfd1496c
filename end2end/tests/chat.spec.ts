import { Browser, expect, Page, test } from "@playwright/test";
import { instanceA, instanceB, waitForHydration } from "../support/env";

async function newPage(browser: Browser): Promise<Page> {
  const context = await browser.newContext();
  return context.newPage();
}

async function expectOnline(page: Page) {
  await expect(page.getByTestId("connection-state")).toHaveAttribute("data-state", "online");
}

async function send(page: Page, text: string) {
  await page.getByLabel("Message").fill(text);
  await page.getByRole("button", { name: "Send" }).click();
}

function messages(page: Page) {
  return page.getByTestId("message").locator(".text");
}

test("a tutor on instance A and a student on instance B chat both ways, keep history, and see markup as text", async ({
  browser,
}) => {
  // The tutor starts a session from the start page of instance A.
  const tutor = await newPage(browser);
  await tutor.goto(instanceA());
  await waitForHydration(tutor);
  await tutor.getByLabel("Title").fill("Fractions");
  await tutor.getByLabel("Your name").fill("Tess");
  await tutor.getByRole("button", { name: "Start a session" }).click();
  const tutorLink = await tutor.getByTestId("tutor-link").getAttribute("href");
  const inviteLink = await tutor.getByTestId("invite-link").getAttribute("href");
  expect(tutorLink).toMatch(/^\/session\/[0-9a-f]{32}\?token=/);
  expect(inviteLink).toMatch(/^\/session\/[0-9a-f]{32}\/join\?invite=/);

  const tutorPage = await tutor.goto(`${instanceA()}${tutorLink}`);
  expect(tutorPage?.headers()["referrer-policy"]).toBe("no-referrer");
  await waitForHydration(tutor);
  await expectOnline(tutor);
  await expect(tutor.getByTestId("session-title")).toHaveText("Fractions");

  // The student comes in through the invite on instance B.
  const student = await newPage(browser);
  await student.goto(`${instanceB()}${inviteLink}`);
  await waitForHydration(student);
  await student.getByLabel("Your name").fill("Sam");
  await student.getByRole("button", { name: "Join" }).click();
  await expect(student).toHaveURL(/\/session\/[0-9a-f]{32}\?token=/);
  await waitForHydration(student);
  await expectOnline(student);
  await expect(tutor.getByTestId("online")).toContainText("Sam");
  await expect(student.getByTestId("online")).toContainText("Tess");

  // Both ways across the instances.
  await send(tutor, "Hello from A");
  await expect(messages(student)).toHaveText(["Hello from A"]);
  await send(student, "Hi from B");
  await expect(messages(tutor)).toHaveText(["Hello from A", "Hi from B"]);

  // Markup and script arrive as the characters typed.
  const markup = `<b>bold</b><script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">`;
  await send(student, markup);
  await expect(messages(tutor).nth(2)).toHaveText(markup);
  await expect(tutor.locator("[data-testid=messages] b")).toHaveCount(0);
  await expect(tutor.locator("[data-testid=messages] img")).toHaveCount(0);
  expect(await tutor.evaluate(() => (window as any).__pwned)).toBeUndefined();

  // A reload keeps the history, in order.
  await student.reload();
  await waitForHydration(student);
  await expectOnline(student);
  await expect(messages(student)).toHaveText(["Hello from A", "Hi from B", markup]);
  expect(await student.evaluate(() => (window as any).__pwned)).toBeUndefined();
});

test("a session link without a valid token is refused", async ({ page }) => {
  await page.goto(`${instanceA()}/session/0123456789abcdef0123456789abcdef?token=forged`);
  await expect(page.getByTestId("session-error")).toContainText("not valid for this session");
});
