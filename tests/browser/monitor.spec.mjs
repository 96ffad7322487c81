// Drives the job-monitoring page (`/`) in headless Chromium against a running graphql-api
// whose database holds two providers, `alpha` and `beta`, each with one failed (CONNECT) job,
// and which knows one admin token and one viewer token (called `viewer`).
//
//   node monitor.spec.mjs BASE_URL ADMIN_TOKEN VIEWER_TOKEN [SCREENSHOT]
//
// Besides SCREENSHOT (the page with the viewer token, at the end), it saves the page as it
// first shows without a token beside it, as `<name>-no-token.png`.
//
// scripts/browser-test.sh seeds the database, starts the server and runs this. Plain node, no
// test runner: prints one line per check and exits non-zero on the first failure.

import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { assert, describe, start, until } from "./harness.mjs";

const BASE = (process.argv[2] ?? process.env.BASE_URL ?? "").replace(/\/$/, "");
const TOKEN = process.argv[3] ?? process.env.ADMIN_TOKEN ?? "";
const VIEWER_TOKEN = process.argv[4] ?? process.env.VIEWER_TOKEN ?? "";
const SCREENSHOT = resolve(process.argv[5] ?? process.env.SCREENSHOT ?? "target/browser/monitor.png");
const PROMPT_SCREENSHOT = SCREENSHOT.replace(/(\.png)?$/, "-no-token.png");
const TOKEN_KEY = "fever.monitor.adminToken";
const DEADLINE_MS = 100_000;
const WAIT_MS = 10_000;

if (!BASE || !TOKEN || !VIEWER_TOKEN) {
  console.error("usage: node monitor.spec.mjs BASE_URL ADMIN_TOKEN VIEWER_TOKEN [SCREENSHOT]");
  process.exit(2);
}

// ---- Helpers -------------------------------------------------------------------------------

/** A GraphQL request straight to the API, beside the page: reads with the viewer token. */
async function gql(query, variables = {}, token = VIEWER_TOKEN) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(`${BASE}/graphql`, {
    method: "POST", headers, body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors?.length) {
    const e = body.errors[0];
    throw new Error(`GraphQL ${e.extensions?.code}: ${e.message}`);
  }
  return body.data;
}

async function jobsOf(provider) {
  const data = await gql(
    `query($p: String) { jobs(filter: { provider: $p }, first: 100) {
       totalCount edges { node { id databaseId state trigger attempt provider { name } } } } }`,
    { p: provider },
  );
  return { total: data.jobs.totalCount, jobs: data.jobs.edges.map((e) => e.node) };
}

/** What the jobs table shows: one entry per row. */
function jobRows(page) {
  return page.$$eval("#jobs tbody tr[data-job-id]", (rows) => rows.map((r) => ({
    id: r.dataset.jobId,
    provider: r.dataset.provider,
    state: r.dataset.state,
    errorKind: r.querySelector("[data-testid=error-kind]")?.textContent ?? null,
    errorMessage: r.querySelector("[data-testid=error-message]")?.textContent ?? null,
  })));
}

/** What the page shows about access: the body's state, the access line, the prompt. */
function accessOf(page) {
  return page.evaluate(() => ({
    access: document.body.dataset.access ?? "",
    text: document.querySelector("#access")?.textContent ?? "",
    prompt: !document.querySelector("#token-prompt").hidden,
    promptText: document.querySelector("#token-prompt").textContent.replace(/\s+/g, " "),
    sections: [...document.querySelectorAll("#providers-section, #jobs-section")].map((s) => !s.hidden),
    providerRows: document.querySelectorAll("#providers tbody tr").length,
    jobRows: document.querySelectorAll("#jobs tbody tr").length,
    adminButtons: [...document.querySelectorAll("button[data-admin]")].map((b) => ({
      action: b.dataset.action, disabled: b.disabled, title: b.title,
    })),
    invalid: document.querySelector("#token").getAttribute("aria-invalid"),
    liveMode: document.body.dataset.liveMode ?? "",
  }));
}

/** Types `token` in the token field and waits until the page says it is `state`. */
async function typeToken(page, token, state) {
  await page.fill("#token", token);
  return until(`the page to take the token as ${state}`, async () => {
    const a = await accessOf(page);
    return a.access === state ? a : false;
  });
}

/** Asserts that the page shows the token prompt and no operator data. */
function assertNoOperatorData(a) {
  assert(a.prompt, `the token prompt is hidden: ${describe(a)}`);
  assert(a.sections.every((shown) => !shown), `operator sections shown: ${describe(a.sections)}`);
  assert(a.providerRows === 0 && a.jobRows === 0, `rows left: ${a.providerRows} providers, ${a.jobRows} jobs`);
  assert(a.adminButtons.every((b) => b.disabled), `enabled admin buttons: ${describe(a.adminButtons)}`);
  assert(a.liveMode === "waiting", `live mode ${a.liveMode}`);
}

function status(page) {
  return page.$eval("#status", (s) => ({
    kind: s.dataset.kind ?? "", code: s.dataset.code ?? "", text: s.textContent,
  }));
}

/** Clicks `selector` and waits for the status line to say something; `accept` judges it. */
async function clickForStatus(page, selector, accept, what) {
  await page.$eval("#status", (s) => { s.textContent = ""; delete s.dataset.kind; delete s.dataset.code; });
  await page.click(selector);
  const said = await until(`the status line after ${what}`, async () => {
    const now = await status(page);
    return now.text ? now : false;
  });
  assert(accept(said), `unexpected status after ${what}: ${describe(said)}`);
  return said;
}

async function selectFilter(page, selector, value, expectedProvider, expectedState) {
  await page.selectOption(selector, value);
  return until(`the jobs table filtered by ${selector}=${value || "(all)"}`, async () => {
    const rows = await jobRows(page);
    if (rows.length === 0) return false;
    const ok = rows.every((r) => (!expectedProvider || r.provider === expectedProvider)
      && (!expectedState || r.state === expectedState));
    return ok ? rows : false;
  });
}

// ---- The test ------------------------------------------------------------------------------

const { page, check, run } = await start({
  deadlineMs: DEADLINE_MS, screenshot: SCREENSHOT, waitMs: WAIT_MS,
});

async function main() {
  const problems = [];
  page.on("console", (msg) => { if (msg.type() === "error") problems.push(`console: ${msg.text()}`); });
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  // A poll still in flight when the test loads another address is cancelled by the browser
  // (net::ERR_ABORTED): that is the navigation, not a failure.
  page.on("requestfailed", (req) => {
    if (req.failure()?.errorText !== "net::ERR_ABORTED") {
      problems.push(`request failed: ${req.url()} ${req.failure()?.errorText}`);
    }
  });
  // Every GraphQL request the page sends, with the token it carried, and every
  // connection_init it sends over a WebSocket.
  const graphqlRequests = [];
  const inits = [];
  page.on("websocket", (ws) => ws.on("framesent", (frame) => {
    try {
      const msg = JSON.parse(String(frame.payload));
      if (msg.type === "connection_init") inits.push(msg.payload ?? {});
    } catch { /* not ours */ }
  }));
  const outside = [];
  page.on("request", (req) => {
    if (new URL(req.url()).pathname === "/graphql") {
      graphqlRequests.push(req.allHeaders().then((h) => h.authorization ?? null));
    }
    const url = new URL(req.url());
    if (!["data:"].includes(url.protocol) && url.origin !== new URL(BASE).origin
        && url.origin.replace(/^ws/, "http") !== new URL(BASE).origin) {
      outside.push(req.url());
    }
  });

  let response;
  await check("the page loads, with its Content-Security-Policy", async () => {
    response = await page.goto(`${BASE}/`, { waitUntil: "domcontentloaded" });
    assert(response.status() === 200, `GET / answered ${response.status()}`);
    const csp = response.headers()["content-security-policy"] ?? "";
    assert(csp.includes("default-src 'none'") && csp.includes("connect-src 'self'"), `CSP: ${csp}`);
    assert((await page.title()).includes("Job monitor"), `title: ${await page.title()}`);
    await page.waitForSelector("body[data-access=none]");
  });

  await check("without a token the page asks for one and shows no operator data", async () => {
    assert((await page.inputValue("#token")) === "", "the token field starts empty");
    assert((await page.textContent('label[for="token"]')) === "Token", "the field is labelled Token");
    const a = await accessOf(page);
    assertNoOperatorData(a);
    assert(/token is needed/i.test(a.promptText) && /viewer or admin token/.test(a.promptText),
      `prompt: ${a.promptText}`);
    assert(/no token/.test(a.text), `access line: ${a.text}`);
    assert(await page.isVisible("#token-prompt"), "the prompt is visible");
    const sent = await Promise.all(graphqlRequests);
    assert(sent.length === 0, `${sent.length} GraphQL requests without a token`);
    assert(inits.length === 0, `a WebSocket was opened without a token: ${describe(inits)}`);
    mkdirSync(dirname(PROMPT_SCREENSHOT), { recursive: true });
    await page.screenshot({ path: PROMPT_SCREENSHOT, fullPage: true });
    console.log(`screenshot (no token): ${PROMPT_SCREENSHOT}`);
  });

  await check("with the viewer token the page says who it is and that the role is viewer", async () => {
    const a = await typeToken(page, VIEWER_TOKEN, "viewer");
    assert(a.text.includes("viewer — viewer: can read providers, jobs and outcomes; actions need an admin token"),
      `access line: ${a.text}`);
    assert(a.invalid === "false", `aria-invalid ${a.invalid}`);
    await page.waitForSelector("body[data-loaded=true]");
    assert(await page.isHidden("#token-prompt"), "the prompt went away");
    const stored = await page.evaluate((k) => sessionStorage.getItem(k), TOKEN_KEY);
    assert(stored === VIEWER_TOKEN, "the token is in sessionStorage");
  });

  await check("both providers are listed, with their health", async () => {
    const providers = await until("alpha and beta rows", () => page.$$eval(
      "#providers tbody tr[data-provider]",
      (rows) => rows.map((r) => ({
        name: r.dataset.provider, enabled: r.dataset.enabled, last: r.dataset.lastState,
        streak: r.cells[5].textContent.trim(), rate: r.cells[6].textContent,
        tint: r.className,
        error: r.querySelector("[data-testid=last-error]")?.textContent ?? null,
        errorCurrent: r.querySelector("[data-testid=last-error]")?.dataset.current ?? null,
        overdue: r.dataset.overdue,
        overdueNote: r.querySelector("[data-testid=overdue]")?.textContent ?? null,
        backingOff: r.querySelector("[data-testid=backing-off]")?.textContent ?? null,
      })),
    ).then((rows) => (rows.length === 2 ? rows : false)));
    assert(providers.map((p) => p.name).join() === "alpha,beta", describe(providers));
    for (const p of providers) {
      assert(p.enabled === "true", `${p.name} enabled: ${p.enabled}`);
      assert(p.last === "FAILED", `${p.name} last job state: ${p.last}`);
      assert(p.streak === "1", `${p.name} failure streak: ${p.streak}`);
      assert(p.rate.startsWith("0%"), `${p.name} success rate: ${p.rate}`);
      // alpha is expected within a second of its last success (it never had one): overdue.
      const overdue = p.name === "alpha";
      assert(p.tint === "t-FAILED" + (overdue ? " overdue" : ""), `${p.name} row tint: ${p.tint}`);
      assert(p.overdue === String(overdue) && (p.overdueNote !== null) === overdue
        && (!overdue || /^overdue since (just now|.+ ago)$/.test(p.overdueNote)), `${p.name} overdue: ${describe(p)}`);
      // beta backs off after one failed collection (two intervals of five minutes); alpha
      // after three.
      const backingOff = p.name === "beta";
      assert((p.backingOff !== null) === backingOff
        && (!backingOff || /^backing off until in (9|10) min · 1 failed collection, 0 ticks skipped$/.test(p.backingOff)),
        `${p.name} backing off: ${describe(p)}`);
      assert(/CONNECT \(job #\d+\) cannot reach the provider/.test(p.error ?? ""),
        `${p.name} last error on the row: ${p.error}`);
      assert(p.errorCurrent === "true", `${p.name} last error is current: ${p.errorCurrent}`);
    }
    const options = await page.$$eval("#provider-filter option", (o) => o.map((x) => x.value));
    assert(options.join() === ",alpha,beta", `provider filter options: ${options}`);
  });

  await check("jobs are listed with their outcome (CONNECT and its message)", async () => {
    const rows = await until("two job rows", async () => {
      const r = await jobRows(page);
      return r.length === 2 ? r : false;
    });
    for (const r of rows) {
      assert(r.state === "FAILED", `job ${r.id} state ${r.state}`);
      assert(r.errorKind === "CONNECT", `job ${r.id} error kind ${r.errorKind}`);
      assert(/cannot reach the provider/.test(r.errorMessage ?? ""), `job ${r.id} message ${r.errorMessage}`);
    }
    const failed = await page.textContent("#state-counts [data-count=FAILED]");
    assert(failed === "2", `failed count ${failed}`);
  });

  await check("live updates come over the subscription, the token in connection_init", async () => {
    await page.waitForSelector("#live:checked");
    await page.waitForSelector("body[data-live-mode=subscription]");
    assert(inits.length === 1 && inits[0].Authorization === `Bearer ${VIEWER_TOKEN}`,
      `connection_init payloads: ${inits.length} (${inits.map((p) => Object.keys(p).join()).join("; ")})`);
  });

  await check("every GraphQL request carried the token", async () => {
    const sent = await Promise.all(graphqlRequests);
    assert(sent.length > 0 && sent.every((h) => h === `Bearer ${VIEWER_TOKEN}`),
      `${sent.filter((h) => h !== `Bearer ${VIEWER_TOKEN}`).length} of ${sent.length} without the viewer token`);
  });

  await check("with the viewer token every admin button stays disabled", async () => {
    const { adminButtons: buttons } = await accessOf(page);
    const actions = new Set(buttons.map((b) => b.action));
    for (const a of ["trigger", "retry", "toggle-enabled"]) assert(actions.has(a), `no ${a} button`);
    assert(buttons.every((b) => b.disabled), `enabled for a viewer: ${describe(buttons.filter((b) => !b.disabled))}`);
    assert(buttons.every((b) => /admin token/.test(b.title)), `titles: ${describe(buttons.map((b) => b.title))}`);
  });

  await check("filtering by provider shows only that provider's jobs", async () => {
    const rows = await selectFilter(page, "#provider-filter", "alpha", "alpha");
    const api = await jobsOf("alpha");
    assert(rows.length === api.total, `page shows ${rows.length} alpha jobs, the API has ${api.total}`);
    assert(new URL(page.url()).searchParams.get("provider") === "alpha", `url ${page.url()}`);
    const beta = await selectFilter(page, "#provider-filter", "beta", "beta");
    assert(beta.length === 1, `beta rows ${describe(beta)}`);
  });

  await check("filtering by state shows only jobs in that state", async () => {
    await selectFilter(page, "#provider-filter", "", null);
    const failed = await selectFilter(page, "#state-filter", "FAILED", null, "FAILED");
    assert(failed.length === 2, `failed rows ${describe(failed)}`);
    await page.selectOption("#state-filter", "PENDING");
    await until("no pending jobs shown", async () =>
      (await jobRows(page)).length === 0 && (await page.isVisible("#jobs-empty")));
    await selectFilter(page, "#state-filter", "", null);
  });

  await check("the admin token enables the admin buttons, keeps it and resubscribes with it", async () => {
    const a = await typeToken(page, TOKEN, "admin");
    assert(a.text.includes("admin — admin: can read and act"), `access line: ${a.text}`);
    await until("enabled admin buttons", () => page.$$eval("button[data-admin]:not([hidden])",
      (bs) => bs.length > 0 && bs.every((b) => !b.disabled)));
    const stored = await page.evaluate((k) => sessionStorage.getItem(k), TOKEN_KEY);
    assert(stored === TOKEN, "the token is in sessionStorage");
    await until("a subscription with the admin token", async () =>
      inits.at(-1)?.Authorization === `Bearer ${TOKEN}`
        && (await page.$eval("body", (b) => b.dataset.liveMode)) === "subscription");
  });

  await check("a job created elsewhere shows up live, without a click", async () => {
    const { jobs } = await jobsOf("beta");
    const failed = jobs.find((j) => j.state === "FAILED");
    const { retryJob } = await gql("mutation($id: ID!) { retryJob(id: $id) { id } }", { id: failed.id }, TOKEN);
    await page.waitForSelector(`#jobs tr[data-job-id="${retryJob.id}"][data-state=PENDING]`, { timeout: 6_000 });
  });

  await check('"Trigger" on alpha creates a job, shown on the page', async () => {
    await selectFilter(page, "#provider-filter", "alpha", "alpha");
    const before = await jobsOf("alpha");
    const result = await clickForStatus(page, 'tr[data-provider="alpha"] button[data-action=trigger]',
      (s) => s.kind === "ok", "the trigger's confirmation");
    // The page says the job's number (as the logs print it); rows carry its global id.
    const number = /Queued job #(\d+) for alpha/.exec(result.text)?.[1];
    assert(number, `status: ${result.text}`);
    const after = await jobsOf("alpha");
    assert(after.total === before.total + 1, `alpha jobs ${before.total} -> ${after.total}`);
    const job = after.jobs.find((j) => j.databaseId === number);
    assert(job && job.trigger === "MANUAL" && job.state === "PENDING", `new job ${describe(job)}`);
    await page.waitForSelector(`#jobs tr[data-job-id="${job.id}"][data-state=PENDING][data-provider=alpha]`);
    const rows = await jobRows(page);
    assert(rows.length === after.total, `page shows ${rows.length} alpha jobs, the API has ${after.total}`);
  });

  await check("errors show their extensions.code: CONFLICT for a second trigger", async () => {
    const result = await clickForStatus(page, 'tr[data-provider="alpha"] button[data-action=trigger]',
      (s) => s.kind === "error", "the conflict");
    assert(result.code === "CONFLICT" && result.text.startsWith("CONFLICT"), describe(result));
  });

  await check("retry is offered on failed jobs only, and reports CONFLICT while one is queued", async () => {
    const rows = await jobRows(page);
    const visible = await page.$$eval("#jobs tr[data-job-id]", (trs) => trs.map((tr) => ({
      state: tr.dataset.state, retry: !tr.querySelector("[data-action=retry]").hidden,
    })));
    assert(visible.every((r) => r.retry === (r.state === "FAILED")), describe(visible));
    const failed = rows.find((r) => r.state === "FAILED");
    const result = await clickForStatus(page, `tr[data-job-id="${failed.id}"] button[data-action=retry]`,
      (s) => s.kind === "error", "the retry's answer");
    assert(result.code === "CONFLICT", describe(result));
  });

  await check("cancel is offered on pending and running jobs only, and ends the job as CANCELLED", async () => {
    const visible = await page.$$eval("#jobs tr[data-job-id]", (trs) => trs.map((tr) => ({
      state: tr.dataset.state, cancel: !tr.querySelector("[data-action=cancel]").hidden,
    })));
    assert(visible.every((r) => r.cancel === (r.state === "PENDING" || r.state === "RUNNING")), describe(visible));
    const pending = (await jobRows(page)).find((r) => r.state === "PENDING");
    assert(pending, "a pending job to cancel");
    const result = await clickForStatus(page, `tr[data-job-id="${pending.id}"] button[data-action=cancel]`,
      (s) => s.kind === "ok", "the cancel's answer");
    assert(/^Cancelled job #\d+/.test(result.text), describe(result));
    const ended = await until("the cancelled row", () => jobRows(page).then((rows) => {
      const row = rows.find((r) => r.id === pending.id);
      return row && row.state === "FAILED" ? row : false;
    }));
    assert(ended.errorKind === "CANCELLED", describe(ended));
    assert(/cancelled by `admin` while pending/.test(ended.errorMessage ?? ""), describe(ended));
  });

  await check("a wrong token gets FORBIDDEN, marked invalid, and no operator data", async () => {
    const a = await typeToken(page, "not-the-token-of-anyone", "rejected");
    assert(a.invalid === "true", "the token field is marked invalid");
    const said = await status(page);
    assert(said.kind === "error" && said.code === "FORBIDDEN" && said.text.startsWith("FORBIDDEN"), describe(said));
    assertNoOperatorData(a);
    assert(/not valid/.test(a.promptText) && /FORBIDDEN/.test(a.promptText), `prompt: ${a.promptText}`);
    await typeToken(page, TOKEN, "admin");
    await page.waitForSelector('tr[data-provider="beta"] button[data-action=toggle-enabled]:not([disabled])');
    assert((await page.getAttribute("#token", "aria-invalid")) === "false", "the field is valid again");
    assert((await status(page)).code === "", "the FORBIDDEN status went away");
  });

  await check("disable and enable a provider", async () => {
    const toggle = 'tr[data-provider="beta"] button[data-action=toggle-enabled]';
    let result = await clickForStatus(page, toggle, (s) => s.kind === "ok", "disabling beta");
    assert(result.text.includes("beta is now disabled"), describe(result));
    await page.waitForSelector('tr[data-provider="beta"][data-enabled=false]');
    let beta = (await gql('{ provider(name: "beta") { enabled health { nextTickAt } } }')).provider;
    assert(beta.enabled === false && beta.health.nextTickAt === null, describe(beta));
    assert((await page.textContent(toggle)) === "Enable", "the button now offers Enable");
    result = await clickForStatus(page, toggle, (s) => s.kind === "ok", "enabling beta");
    assert(result.text.includes("beta is now enabled"), describe(result));
    await page.waitForSelector('tr[data-provider="beta"][data-enabled=true]');
    beta = (await gql('{ provider(name: "beta") { enabled } }')).provider;
    assert(beta.enabled === true, describe(beta));
  });

  await check("the audit panel lists the admin actions, newest first, with the token's name", async () => {
    const rows = await until("audit rows", () => page.$$eval("#audit tbody tr", (trs) => trs.map((tr) => ({
      actor: tr.cells[1].textContent, action: tr.cells[2].textContent,
      target: tr.cells[3].textContent, result: tr.cells[4].textContent,
    }))).then((r) => (r.some((x) => x.action === "setProviderEnabled") ? r : false)));
    const actions = rows.map((r) => r.action);
    for (const a of ["setProviderEnabled", "cancelJob", "retryJob", "triggerCollection"]) {
      assert(actions.includes(a), `${a} in ${describe(rows)}`);
    }
    assert(rows[0].action === "setProviderEnabled" && rows[0].target === "provider beta", describe(rows[0]));
    assert(rows.every((r) => r.actor === "admin"), describe(rows));
    assert(rows.some((r) => r.result.startsWith("CONFLICT")), describe(rows));
  });

  await check("forgetting the token hides the data and disables the buttons again", async () => {
    await page.click("#token-clear");
    const a = await accessOf(page);
    assert(a.access === "none", `access ${a.access}`);
    assertNoOperatorData(a);
    assert((await page.evaluate((k) => sessionStorage.getItem(k), TOKEN_KEY)) === null,
      "the token left sessionStorage");
  });

  await check("the viewer token typed again brings the data back, subscribed", async () => {
    await typeToken(page, VIEWER_TOKEN, "viewer");
    await page.waitForSelector("body[data-loaded=true][data-live-mode=subscription]");
    await selectFilter(page, "#provider-filter", "", null);
    const { adminButtons } = await accessOf(page);
    assert(adminButtons.length > 0 && adminButtons.every((b) => b.disabled), describe(adminButtons));
  });

  await check("a job's own page (/jobs/N) shows what it knows and its collection's attempts", async () => {
    const failed = (await jobRows(page)).find((r) => r.state === "FAILED" && r.errorKind === "CONNECT");
    assert(failed, "a failed job to open");
    const link = `tr[data-job-id="${failed.id}"] [data-testid=job-link]`;
    const number = await page.textContent(link);
    await Promise.all([page.waitForURL(/\/jobs\/\d+$/), page.click(link)]);
    await page.waitForSelector("#job-detail:not([hidden]) [data-testid=detail-error-kind]");
    const d = await page.evaluate(() => ({
      title: document.querySelector("#job-detail-title").textContent,
      kind: document.querySelector("[data-testid=detail-error-kind]").textContent,
      message: document.querySelector("[data-testid=detail-error-message]").textContent,
      fields: [...document.querySelectorAll("#job-detail-fields dt")].map((n) => n.textContent),
      attempts: [...document.querySelectorAll("#job-detail-attempts li")]
        .map((li) => ({ current: li.getAttribute("aria-current"), text: li.textContent })),
      listsShown: !document.querySelector("#jobs-section").hidden,
      feedBody: document.querySelector("[data-testid=detail-feed-body]")?.textContent ?? null,
    }));
    assert(d.title.startsWith(`Job ${number} (`), describe(d));
    assert(d.kind === "CONNECT" && /cannot reach the provider/.test(d.message), describe(d));
    // A failed fetch read no body: nothing kept, nothing to download or replay.
    assert(/^not kept/.test(d.feedBody ?? ""), `feed body: ${describe(d)}`);
    for (const f of ["State", "Worker", "HTTP status", "Bytes received", "Retry-After", "Duration", "Phases", "Events", "Feed body", "Error"]) {
      assert(d.fields.includes(f), `field ${f}: ${describe(d)}`);
    }
    assert(d.attempts.some((a) => a.current === "true" && a.text.startsWith(number)), describe(d));
    assert(d.listsShown, "the lists stay below the detail");
    await until("the chart of the job's provider", async () =>
      (await page.textContent("#activity-provider")) === failed.provider
        && (await page.$$eval("#chart-jobs svg title", (t) => t.length)) > 0);
    await page.evaluate(() => document.activeElement?.blur());
    const shot = SCREENSHOT.replace(/\.png$/, "-job.png");
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot (a job's page): ${shot}`);
    await page.goto(`${BASE}/`, { waitUntil: "domcontentloaded" });
    await page.waitForSelector("body[data-loaded=true]");
  });

  await check("history: pages through every job, newest first, and filters by trigger and time", async () => {
    const all = (await gql("{ jobs(first: 100) { nodes { databaseId trigger } } }")).jobs.nodes;
    assert(all.length >= 4, describe(all));
    await page.goto(`${BASE}/?first=2`, { waitUntil: "domcontentloaded" });
    await page.waitForSelector("body[data-loaded=true]");
    const shown = () => page.$$eval("#jobs tbody tr[data-job-id] [data-testid=job-link]",
      (links) => links.map((a) => a.textContent.slice(1)).join());
    const pages = [];
    for (let n = 0; n < all.length / 2; n++) {
      if (n > 0) await page.click("#page-older");
      const want = all.slice(2 * n, 2 * n + 2).map((j) => j.databaseId).join();
      await until(`page ${n + 1} (${want})`, async () => ((await shown()) === want ? true : false));
      pages.push(await page.evaluate(() => ({
        older: !document.querySelector("#page-older").disabled,
        newer: !document.querySelector("#page-newer").disabled,
        page: document.querySelector("#jobs-summary").dataset.page,
      })));
    }
    assert(pages[0].older && !pages[0].newer && pages.at(-1).newer && !pages.at(-1).older, describe(pages));
    await page.click("#page-newest");
    const newest = all.slice(0, 2).map((j) => j.databaseId).join();
    await until("the newest page again", async () => ((await shown()) === newest ? true : false));

    await page.selectOption("#trigger-filter", "MANUAL");
    const manual = all.filter((j) => j.trigger === "MANUAL").slice(0, 2).map((j) => j.databaseId).join();
    await until(`manual jobs (${manual})`, async () => ((await shown()) === manual ? true : false));
    assert(new URL(page.url()).searchParams.get("trigger") === "MANUAL", page.url());
    await page.fill("#from-filter", "2099-01-01T00:00:00");
    await page.dispatchEvent("#from-filter", "change");
    await page.waitForSelector("#jobs-empty:not([hidden])");
    await page.goto(`${BASE}/`, { waitUntil: "domcontentloaded" });
    await page.waitForSelector("body[data-loaded=true]");
  });

  await check("error groups: one row per problem, its jobs, a kind filter, and a group retried in one action", async () => {
    await page.waitForSelector("#groups tbody tr[data-group]");
    const groups = () => page.$$eval("#groups tbody tr[data-group]", (trs) => trs.map((tr) => ({
      id: tr.dataset.group, text: tr.textContent,
      retry: tr.querySelector("[data-action=retry-group]").disabled,
    })));
    const all = await groups();
    // One CONNECT group per provider, its os error number replaced.
    const rows = all.filter((r) => /CONNECT/.test(r.text));
    assert(rows.length === 2 && rows.every((r) => /Connection refused \(os error <n>\)/.test(r.text)), describe(all));
    assert(all.every((r) => r.retry), `a viewer cannot retry: ${describe(all)}`);
    await page.click(`tr[data-group="${rows[0].id}"] [data-action=show-group]`);
    await until("the group's jobs", async () => {
      const jobs = await jobRows(page);
      return jobs.length > 0 && jobs.every((j) => j.errorKind === "CONNECT") ? jobs : false;
    });
    assert(new URL(page.url()).searchParams.get("group") === rows[0].id, page.url());
    const groupJobs = (await jobRows(page)).length;
    assert(await page.isVisible("#group-filter"), "the group filter is shown");
    await page.click("#group-filter-clear");
    assert(!(await page.isVisible("#group-filter")), "the group filter is gone");
    await page.selectOption("#kind-filter", "PARSE");
    await page.waitForSelector("#jobs-empty:not([hidden])");
    assert(new URL(page.url()).searchParams.get("kind") === "PARSE", page.url());
    await selectFilter(page, "#kind-filter", "CONNECT", null, "FAILED");
    await page.selectOption("#kind-filter", "");

    await typeToken(page, TOKEN, "admin");
    const said = await clickForStatus(page, `tr[data-group="${rows[0].id}"] [data-action=retry-group]`,
      (s) => s.kind !== "error", "Retry all");
    const matched = /Retried the group: (\d+) failed jobs matched, (\d+) queued, (\d+) skipped/.exec(said.text);
    assert(matched && Number(matched[1]) === groupJobs && Number(matched[1]) === Number(matched[2]) + Number(matched[3]),
      `${said.text} (the group showed ${groupJobs} jobs)`);
    await until("the action in the audit log", async () =>
      (await page.$$eval("#audit tbody tr", (r) => r.map((x) => x.textContent))).some((t) => t.includes("retryFailedJobs")));
    await page.evaluate(() => document.activeElement?.blur());
    const shot = SCREENSHOT.replace(/\.png$/, "-groups.png");
    await page.$eval("#groups-section", (s) => s.scrollIntoView());
    // The sticky header would cover the section's title.
    await page.locator("#groups-section").screenshot({ path: shot, style: "header { position: static !important; }" });
    console.log(`screenshot (error groups): ${shot}`);
    await typeToken(page, VIEWER_TOKEN, "viewer");
    await page.waitForSelector("body[data-loaded=true][data-live-mode=subscription]");
    await page.waitForTimeout(500); // the refresh the new token started, before the next page load
  });

  await check("charts: a provider's jobs, failures and p95 per interval, as SVG with values in words", async () => {
    const chart = await until("the activity chart", async () => {
      const c = await page.evaluate(() => ({
        provider: document.querySelector("#activity-provider").textContent,
        jobs: Number(document.querySelector("#chart-jobs-summary").dataset.jobs ?? -1),
        failures: Number(document.querySelector("#chart-jobs-summary").dataset.failures ?? -1),
        summary: document.querySelector("#chart-jobs-summary").textContent,
        failedBars: document.querySelectorAll("#chart-jobs svg rect.failed").length,
        dots: document.querySelectorAll("#chart-p95 svg circle.dot").length,
        titles: [...document.querySelectorAll("#chart-jobs svg title")].map((t) => t.textContent),
      }));
      return c.jobs > 0 ? c : false;
    });
    const { nodes } = (await gql(`{ jobs(filter: { provider: "${chart.provider}" }, first: 100) { nodes { state finishedAt } } }`)).jobs;
    const finished = nodes.filter((j) => j.finishedAt);
    assert(chart.jobs === finished.length && chart.failures === finished.filter((j) => j.state === "FAILED").length,
      `${describe(chart)} vs ${describe(nodes)}`);
    assert(chart.failedBars > 0 && chart.dots > 0 && chart.titles.length === 24, describe(chart));
    assert(chart.titles.some((t) => /\d+ jobs, \d+ failed, p95 /.test(t)), describe(chart.titles));
    assert(/jobs finished, \d+ failed/.test(chart.summary), chart.summary);
    await page.selectOption("#activity-range", "168");
    await until("a week's chart", async () => page.$eval("#chart-jobs svg",
      (s) => Date.now() - Date.parse(s.dataset.from) > 6.9 * 86400e3));
    const week = await status(page);
    assert(week.kind !== "error", `the week's chart: ${describe(week)}`);
    const shot = SCREENSHOT.replace(/\.png$/, "-charts.png");
    await page.selectOption("#activity-range", "24");
    await page.locator("#activity-section").screenshot({ path: shot, style: "header { position: static !important; }" });
    console.log(`screenshot (charts): ${shot}`);
  });

  await check("workers: the worker that ran is listed, stopped, with its host and version", async () => {
    await page.waitForSelector("#workers tbody tr[data-worker]");
    const workers = await page.$$eval("#workers tbody tr[data-worker]", (trs) => trs.map((tr) => ({
      id: tr.dataset.worker, state: tr.dataset.state, text: tr.textContent })));
    assert(workers.length === 1 && workers[0].id === "browser-test-worker" && workers[0].state === "STOPPED"
      && /pid \d+/.test(workers[0].text) && /0 of 4/.test(workers[0].text), describe(workers));
    const shot = SCREENSHOT.replace(/\.png$/, "-workers.png");
    await page.locator("#workers-section").screenshot({ path: shot, style: "header { position: static !important; }" });
    console.log(`screenshot (workers): ${shot}`);
  });

  await check("providers come a page at a time (?providers=1): First and Next", async () => {
    await page.goto(`${BASE}/?providers=1`, { waitUntil: "domcontentloaded" });
    await page.waitForSelector("body[data-loaded=true]");
    const names = () => page.$$eval("#providers tbody tr[data-provider]", (r) => r.map((x) => x.dataset.provider).join());
    await until("alpha alone", async () => ((await names()) === "alpha" ? true : false));
    assert(!(await page.isDisabled("#providers-next")) && (await page.isDisabled("#providers-first")), "next offered");
    const options = await page.$$eval("#provider-filter option", (o) => o.map((x) => x.value).join());
    assert(options === ",alpha,beta", `every provider stays in the filter: ${options}`);
    await page.click("#providers-next");
    await until("beta alone", async () => ((await names()) === "beta" ? true : false));
    assert(await page.isDisabled("#providers-next"), "beta is the last");
    await page.click("#providers-first");
    await until("alpha again", async () => ((await names()) === "alpha" ? true : false));
    await page.goto(`${BASE}/`, { waitUntil: "domcontentloaded" });
    await page.waitForSelector("body[data-loaded=true]");
  });

  await check("nothing was fetched from elsewhere, and no console errors", async () => {
    assert(outside.length === 0, `requests outside the API: ${outside}`);
    assert(problems.length === 0, problems.join("\n"));
  });

  // The screenshot: the viewer's page, every job, both providers.
  await page.evaluate(() => document.activeElement?.blur());
  await page.waitForTimeout(300);
  mkdirSync(dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  console.log(`screenshot: ${SCREENSHOT}`);
}

await run(main);
