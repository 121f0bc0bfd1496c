// A fake OpenAI-compatible model server for the browser tests, on loopback.
// It streams a report slowly enough that a progress bar visibly moves. A
// transcript that contains "[refuse]" gets a 401 until the test heals the
// fake through POST /control/heal, so a failed job can be retried.

import http from "node:http";
import { AddressInfo } from "node:net";

export const SUMMARY = "The student worked through fractions with growing confidence.";

const report = JSON.stringify({
  summary: SUMMARY,
  went_well: ["The student explained each step in their own words."],
  to_work_on: ["Simplify fractions before adding them."],
  next_steps: ["Practise adding fractions with unlike denominators."],
});

export async function startFakeModel(): Promise<{ url: string; server: http.Server }> {
  let refusing = true;
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      if (req.url === "/control/heal") {
        refusing = false;
        res.writeHead(204).end();
        return;
      }
      if (req.url !== "/v1/chat/completions") {
        res.writeHead(404).end();
        return;
      }
      if (refusing && body.includes("[refuse]")) {
        res.writeHead(401, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { message: "Incorrect API key provided", type: "auth" } }));
        return;
      }
      const usage = { prompt_tokens: 300, completion_tokens: 80, total_tokens: 380 };
      if (!JSON.parse(body).stream) {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ choices: [{ index: 0, message: { role: "assistant", content: report } }], usage }));
        return;
      }
      res.writeHead(200, { "content-type": "text/event-stream" });
      const pieces = report.match(/.{1,24}/gs) ?? [report];
      let i = 0;
      const timer = setInterval(() => {
        if (i < pieces.length) {
          const delta = { choices: [{ index: 0, delta: { content: pieces[i] }, finish_reason: null }] };
          res.write(`data: ${JSON.stringify(delta)}\n\n`);
          i += 1;
        } else {
          clearInterval(timer);
          res.write(`data: ${JSON.stringify({ choices: [], usage })}\n\n`);
          res.end("data: [DONE]\n\n");
        }
      }, 250);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, server };
}
