import { expect, test } from "@playwright/test";
import { instanceA, instanceB, waitForHydration } from "../support/env";
import { createSession, expectOnline, joinAsStudent, messages, newPage, openAsTutor, send } from "../support/session";

test("a tutor on instance A and a student on instance B chat both ways, keep history, and see markup as text", async ({
  browser,
}) => {
  // The tutor starts a session from the start page of instance A.
  const tutor = await newPage(browser);
  const { tutorLink, inviteLink } = await createSession(tutor, "Fractions");
  expect(tutorLink).toMatch(/^\/session\/[0-9a-f]{32}\?token=/);
  expect(inviteLink).toMatch(/^\/session\/[0-9a-f]{32}\/join\?invite=/);

  const tutorPage = await tutor.goto(`${instanceA()}${tutorLink}`);
  expect(tutorPage?.headers()["referrer-policy"]).toBe("no-referrer");
  expect(tutorPage?.headers()["cache-control"]).toBe("no-store");
  await waitForHydration(tutor);
  await expectOnline(tutor);
  await expect(tutor.getByTestId("session-title")).toHaveText("Fractions");

  // The student comes in through the invite on instance B.
  const student = await newPage(browser);
  await joinAsStudent(student, instanceB(), inviteLink, "Sam");
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

test("only the tutor can end the session, after confirming, and then both pages say it ended", async ({ browser }) => {
  const tutor = await newPage(browser);
  const { inviteLink } = await openAsTutor(tutor, "Decimals");
  const student = await newPage(browser);
  await joinAsStudent(student, instanceB(), inviteLink, "Sam");
  await expect(student.getByRole("button", { name: "End session" })).toHaveCount(0);

  // The first click only asks; keeping the session open changes nothing.
  await tutor.getByRole("button", { name: "End session" }).click();
  await tutor.getByRole("button", { name: "Keep it open" }).click();
  await send(student, "Still here");
  await expect(messages(tutor)).toHaveText(["Still here"]);

  await tutor.getByRole("button", { name: "End session" }).click();
  await tutor.getByRole("button", { name: "End session now" }).click();
  await expect(tutor.getByTestId("session-ended")).toBeVisible();
  await expect(student.getByTestId("session-ended")).toBeVisible();
  await expect(student.getByLabel("Message")).toHaveCount(0);
});

test("a message over the server's limit is refused in the page and stays in the box to be shortened", async ({ page }) => {
  await openAsTutor(page, "Long answers");
  const long = "x".repeat(5000);
  await send(page, long);
  await expect(page.getByTestId("chat-notice")).toContainText("too long: 5000 bytes");
  await expect(page.getByLabel("Message")).toHaveValue(long);
  await expect(page.getByTestId("pending-message")).toHaveCount(0);

  await page.getByLabel("Message").fill("Short now");
  await page.getByRole("button", { name: "Send" }).click();
  await expect(messages(page)).toHaveText(["Short now"]);
  await expect(page.getByTestId("chat-notice")).toBeEmpty();
});
