// Drives GraphiQL (`GET /graphql`) in headless Chromium against a running graphql-api whose
// database holds the events of fixtures/feeds/response_1.xml (provider `gamma`).
//
//   node graphiql.spec.mjs BASE_URL [SCREENSHOT]
//
// Checks that the IDE loads with nothing from another host and no CSP violation, that its
// docs panel lists Query.events (introspection passed), and that the default query and a
// typed one run and show data. scripts/browser-test.sh seeds the database, starts the server
// and runs this. Plain node: one line per check, non-zero exit on the first failure.

import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { assert, start } from "./harness.mjs";

const BASE = (process.argv[2] ?? process.env.BASE_URL ?? "").replace(/\/$/, "");
const SCREENSHOT = resolve(process.argv[3] ?? "target/browser/graphiql.png");
const WAIT_MS = 15_000;

if (!BASE) {
  console.error("usage: node graphiql.spec.mjs BASE_URL [SCREENSHOT]");
  process.exit(2);
}

/** The text GraphiQL shows in its response pane. */
function responseText(page) {
  return page.evaluate(() => {
    const pane = document.querySelector(".graphiql-response .CodeMirror");
    return pane?.CodeMirror?.getValue() ?? pane?.textContent ?? "";
  });
}

/** Runs what the query editor holds and waits for a response holding `needle`. */
async function runAndWaitFor(page, needle) {
  await page.click(".graphiql-execute-button");
  await page.waitForFunction(
    (n) => {
      const pane = document.querySelector(".graphiql-response .CodeMirror");
      return (pane?.CodeMirror?.getValue() ?? "").includes(n);
    },
    needle,
    { timeout: WAIT_MS },
  );
  return responseText(page);
}

const { page, check, run } = await start({
  deadlineMs: 90_000, screenshot: SCREENSHOT, waitMs: WAIT_MS,
});

async function main() {
  const problems = [];
  page.on("console", (msg) => { if (msg.type() === "error") problems.push(`console: ${msg.text()}`); });
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("requestfailed", (req) => problems.push(`request failed: ${req.url()} ${req.failure()?.errorText}`));
  page.on("response", (res) => { if (res.status() >= 400) problems.push(`${res.status()}: ${res.url()}`); });
  const origin = new URL(BASE).origin;
  const outside = [];
  const requested = [];
  page.on("request", (req) => {
    const url = new URL(req.url());
    requested.push(url.pathname);
    if (url.protocol !== "data:" && url.origin !== origin
        && url.origin.replace(/^ws/, "http") !== origin) {
      outside.push(req.url());
    }
  });

  await check("GraphiQL loads from the server alone, under a CSP that allows only 'self' scripts", async () => {
    const response = await page.goto(`${BASE}/graphql`, { waitUntil: "load" });
    assert(response.status() === 200, `GET /graphql answered ${response.status()}`);
    const csp = response.headers()["content-security-policy"] ?? "";
    assert(csp.includes("script-src 'self'") && !/script-src[^;]*unsafe/.test(csp), `CSP: ${csp}`);
    await page.waitForSelector(".graphiql-container .graphiql-query-editor .CodeMirror");
    assert(requested.some((p) => p.endsWith("/graphiql.min.js")), `requests: ${requested.join(", ")}`);
  });

  await check("the docs panel lists Query.events (introspection passed)", async () => {
    await page.click('button[aria-label="Show Documentation Explorer"]');
    await page.click(".graphiql-doc-explorer-root-type a, .graphiql-doc-explorer-type-name >> text=Query");
    await page.waitForSelector(".graphiql-doc-explorer-field-name >> text=events");
  });

  await check("the default query runs and shows events", async () => {
    const text = await runAndWaitFor(page, '"edges"');
    const body = JSON.parse(text);
    assert(!body.errors, `errors: ${text.slice(0, 300)}`);
    const events = body.data.events.edges.map((e) => e.node);
    assert(events.length > 0, `no events: ${text.slice(0, 300)}`);
    assert(events.every((e) => e.provider.name === "gamma"), `providers: ${text.slice(0, 300)}`);
  });

  await check("a typed query runs and shows its data", async () => {
    // As a person would: select what the editor holds and type over it (the editor closes
    // brackets as they open, and steps over a closing one typed where it already is).
    await page.click(".graphiql-query-editor .CodeMirror");
    await page.keyboard.press("Control+A");
    await page.keyboard.type("{ events(first: 2) { edges { node { title soldOut } } } }");
    await page.waitForFunction(() => {
      const editor = document.querySelector(".graphiql-query-editor .CodeMirror").CodeMirror;
      return editor.getValue().trim() === "{ events(first: 2) { edges { node { title soldOut } } } }";
    });
    // GraphiQL reads the operation from the editor after a short debounce.
    await page.waitForTimeout(500);
    const text = await runAndWaitFor(page, '"title"');
    const body = JSON.parse(text);
    assert(body.data.events.edges.length === 2, `answer: ${text.slice(0, 300)}`);
  });

  await check("nothing was requested from another host, and no error was logged", async () => {
    assert(outside.length === 0, `requests to other hosts: ${outside.join(", ")}`);
    assert(problems.length === 0, problems.join("\n"));
  });

  mkdirSync(dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT });
  console.log(`screenshot: ${SCREENSHOT}`);
}

await run(main);
