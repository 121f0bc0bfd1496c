// The steps of a tutoring session that several browser tests take: a tutor
// starts one, a student joins with the invite, someone says something.

import { Browser, expect, Page } from "@playwright/test";
import { instanceA, waitForHydration } from "./env";

/// A page in a browser context of its own: its own cookies and storage, as
/// another person's browser has.
export async function newPage(browser: Browser): Promise<Page> {
  return (await browser.newContext()).newPage();
}

export async function expectOnline(page: Page) {
  await expect(page.getByTestId("connection-state")).toHaveAttribute("data-state", "online");
}

/// Starts a session from the start page of `base` and returns the tutor's
/// own link and the students' invite, both as paths.
export async function createSession(
  page: Page,
  title: string,
  base = instanceA(),
): Promise<{ tutorLink: string; inviteLink: string }> {
  await page.goto(base);
  await waitForHydration(page);
  await page.getByLabel("Title").fill(title);
  await page.getByLabel("Your name").fill("Tess");
  await page.getByRole("button", { name: "Start a session" }).click();
  const tutorLink = (await page.getByTestId("tutor-link").getAttribute("href")) ?? "";
  const inviteLink = (await page.getByTestId("invite-link").getAttribute("href")) ?? "";
  return { tutorLink, inviteLink };
}

/// Starts a session on the instance at `base` as the tutor Tess and opens
/// it, connected.
export async function openAsTutor(page: Page, title: string, base = instanceA()): Promise<{ inviteLink: string }> {
  const { tutorLink, inviteLink } = await createSession(page, title, base);
  await page.goto(`${base}${tutorLink}`);
  await waitForHydration(page);
  await expectOnline(page);
  return { inviteLink };
}

/// Joins through `inviteLink` on the instance at `base` as `name`, connected.
export async function joinAsStudent(page: Page, base: string, inviteLink: string, name: string) {
  await page.goto(`${base}${inviteLink}`);
  await waitForHydration(page);
  await page.getByLabel("Your name").fill(name);
  await page.getByRole("button", { name: "Join" }).click();
  await expect(page).toHaveURL(/\/session\/[0-9a-f]{32}\?token=/);
  await waitForHydration(page);
  await expectOnline(page);
}

export function messages(page: Page) {
  return page.getByTestId("message").locator(".text");
}

/// Sends `text` without waiting for it to arrive.
export async function send(page: Page, text: string) {
  await page.getByLabel("Message").fill(text);
  await page.getByRole("button", { name: "Send" }).click();
}

/// Sends `text` and waits until it shows as stored.
export async function say(page: Page, text: string) {
  await send(page, text);
  await expect(messages(page).last()).toHaveText(text);
}
