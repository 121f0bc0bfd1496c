// The browser's side of a dropped connection: its instance goes away and
// comes back, and the page reconnects by itself, catches up on what it
// missed and delivers what was typed meanwhile, each message once.

import { expect, test } from "@playwright/test";
import { instanceB, redisUrl } from "../support/env";
import { startInstance } from "../support/processes";
import { joinAsStudent, messages, newPage, openAsTutor, say, send } from "../support/session";

test("a page whose instance restarts reconnects, catches up and sends what was typed meanwhile, once", async ({
  browser,
}) => {
  const env = { REDIS_URL: redisUrl(), ROLE: "web" };
  let own = await startInstance("c", env);
  try {
    const tutor = await newPage(browser);
    const { inviteLink } = await openAsTutor(tutor, "Percentages", own.url);
    const student = await newPage(browser);
    await joinAsStudent(student, instanceB(), inviteLink, "Sam");
    await say(tutor, "Before the restart");

    // The tutor's instance stops; the page says so and keeps what is typed.
    own.process.kill("SIGTERM");
    await expect(tutor.getByTestId("connection-state")).toHaveAttribute("data-state", /reconnecting|connecting/);
    await say(student, "Said while you were away");
    await send(tutor, "Typed while offline");
    await expect(tutor.getByTestId("pending-message")).toHaveText(/Typed while offline/);

    // Back on the same address, the page finds it again without a reload.
    own = await startInstance("c-again", env, own.port);
    await expect(tutor.getByTestId("connection-state")).toHaveAttribute("data-state", "online", { timeout: 30_000 });
    const all = ["Before the restart", "Said while you were away", "Typed while offline"];
    await expect(messages(tutor)).toHaveText(all);
    await expect(tutor.getByTestId("pending-message")).toHaveCount(0);
    await expect(messages(student)).toHaveText(all);
  } finally {
    own.process.kill("SIGTERM");
  }
});
