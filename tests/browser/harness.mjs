// What every browser spec shares: headless Chromium (Debian's, through playwright-core), one
// line per check, a deadline, and a screenshot when a check fails. Plain node, no test runner.
//
//   const { check, assert, until, page } = await start({ deadlineMs, screenshot });
//   await finish(async () => { await check("...", async () => { ... }); });

import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { chromium } from "playwright-core";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** Fails the check with `message` unless `condition` holds. */
export function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/** `value` as one line, for a failure message. */
export function describe(value) {
  if (value instanceof Error) return value.message;
  try { return JSON.stringify(value); } catch { return String(value); }
}

/** Polls `probe` until it returns a truthy value; fails with the last value seen. */
export async function until(what, probe, timeout = 10_000) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${describe(last)})`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Starts Chromium with a fresh profile and returns its page, and `run(main)`, which runs the
 * checks of `main`, prints the summary, saves `screenshot` if one fails, and cleans up. The
 * whole spec is stopped after `deadlineMs`, whatever happens.
 */
export async function start({ deadlineMs, screenshot, waitMs = 10_000 }) {
  const started = Date.now();
  const userDataDir = mkdtempSync(join(tmpdir(), "fever-chromium-"));
  const watchdog = setTimeout(() => {
    console.error(`not ok - the test did not finish within ${deadlineMs / 1000} s`);
    rmSync(userDataDir, { recursive: true, force: true });
    process.exit(1);
  }, deadlineMs);
  watchdog.unref();

  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
    viewport: { width: 1400, height: 900 },
    timeout: 30_000,
  });
  context.setDefaultTimeout(waitMs);
  const page = context.pages()[0] ?? (await context.newPage());

  let passed = 0;
  async function check(name, body) {
    await body();
    passed += 1;
    console.log(`ok ${passed} - ${name}`);
  }

  async function run(main) {
    try {
      await main();
      console.log(`${passed} passed, 0 failed (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    } catch (err) {
      console.log(`not ok ${passed + 1} - ${err.message}`);
      try {
        mkdirSync(dirname(screenshot), { recursive: true });
        await page.screenshot({ path: screenshot, fullPage: true });
        console.log(`screenshot (at the failure): ${screenshot}`);
      } catch { /* the browser may be gone */ }
      console.log(`${passed} passed, 1 failed`);
      process.exitCode = 1;
    } finally {
      await context.close().catch(() => {});
      rmSync(userDataDir, { recursive: true, force: true });
      clearTimeout(watchdog);
    }
  }

  return { page, check, run };
}
