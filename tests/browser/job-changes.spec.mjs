// Drives a completed job's page (`/jobs/N`) in headless Chromium: what its feed changed, kind
// by kind, and, in the providers list below it, a provider paused after failing.
//
//   node job-changes.spec.mjs BASE_URL VIEWER_TOKEN JOB_NUMBER PAUSED_PROVIDER [SCREENSHOT]
//
// scripts/browser-test.sh runs it once provider gamma has collected the first sample feed
// (job JOB_NUMBER: three new events) and PAUSED_PROVIDER was paused. Plain node, no test
// runner: prints one line per check and exits non-zero on the first failure.

import { resolve } from "node:path";
import { assert, describe, start, until } from "./harness.mjs";

const BASE = (process.argv[2] ?? "").replace(/\/$/, "");
const VIEWER_TOKEN = process.argv[3] ?? "";
const JOB = process.argv[4] ?? "";
const PAUSED = process.argv[5] ?? "";
const SCREENSHOT = resolve(process.argv[6] ?? "target/browser/monitor-job-changes.png");

if (!BASE || !VIEWER_TOKEN || !/^\d+$/.test(JOB) || !PAUSED) {
  console.error("usage: node job-changes.spec.mjs BASE_URL VIEWER_TOKEN JOB_NUMBER PAUSED_PROVIDER [SCREENSHOT]");
  process.exit(2);
}

const { page, check, run } = await start({ deadlineMs: 50_000, screenshot: SCREENSHOT });

await run(async () => {
  await check("a completed job's page names what its feed changed", async () => {
    await page.goto(`${BASE}/jobs/${JOB}`, { waitUntil: "domcontentloaded" });
    await page.fill("#token", VIEWER_TOKEN);
    await page.waitForSelector("#job-detail:not([hidden]) [data-testid=changes-inserted]");
    const kinds = await page.$$eval("#job-detail-changes .change-kind", (blocks) => blocks.map((b) => ({
      kind: b.dataset.testid,
      heading: b.querySelector("h4").textContent,
      events: [...b.querySelectorAll("li[data-event-id]")].map((li) => li.textContent),
    })));
    const inserted = kinds.find((k) => k.kind === "changes-inserted");
    assert(inserted?.heading === "New: 3", describe(kinds));
    assert(inserted.events.length === 3
      && inserted.events.some((e) => e.startsWith("Pantomima Full (2021-02-10 ")), describe(kinds));
    for (const other of ["changes-updated", "changes-stopped", "changes-unchanged"]) {
      assert(kinds.find((k) => k.kind === other)?.events.length === 0, `${other}: ${describe(kinds)}`);
    }
    const events = await page.$eval("#job-detail-fields", (dl) => dl.textContent);
    assert(/inserted 3, updated 0, unchanged 0, stopped appearing 0/.test(events), events);
  });

  await check(`the providers list below marks ${PAUSED} paused, with why`, async () => {
    const row = `#providers tbody tr[data-provider="${PAUSED}"]`;
    const paused = await until(`${PAUSED} paused`, async () => {
      const text = await page.$eval(`${row} [data-testid=paused]`, (n) => n.textContent).catch(() => null);
      return text ?? false;
    });
    assert(/failed collections/.test(paused), paused);
    await page.evaluate(() => document.activeElement?.blur());
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(`screenshot (a completed job's changes, a paused provider): ${SCREENSHOT}`);
  });
});
