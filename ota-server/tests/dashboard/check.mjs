#!/usr/bin/env node
// Headless-Chromium check of ota-server's /dashboard page.
//
//   node check.mjs 'https://localhost:8443/dashboard#token=ota_…' [--timeout-s 180] [--screenshot out.png] [--width 1280]
//
// Loads the page in the system Chromium (/usr/bin/chromium, Debian's `chromium`; override with
// CHROMIUM=/path) and polls the DOM until
//   (a) some rollout stage shows progress: a [data-testid^="stage-"] element with data-committed > 0,
//   (b) a rollout shows state `paused` with a non-empty [data-testid="pause-reason"];
// every stage must label its counts both ways ("this stage" and "so far", the latter never below
// the former).
// Then prints one JSON line with what it saw and exits 0. Exits 1 on timeout (printing the text
// of the rollouts section), on any uncaught page error or console error, or if the token stays
// in the address bar. Setup: `npm ci --prefix ota-server/tests/dashboard`
// (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1: Playwright's own browsers are never downloaded).

import { chromium } from "playwright-core";

function usage(msg) {
  if (msg) console.error("check.mjs: " + msg);
  console.error("usage: node check.mjs <dashboard-url-with-#token=...> [--timeout-s 180] [--screenshot out.png] [--width 1280]");
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { url: null, timeoutS: 180, screenshot: null, width: 1280 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--timeout-s") {
      opts.timeoutS = Number(argv[++i]);
      if (!(opts.timeoutS > 0)) usage("--timeout-s needs a positive number");
    } else if (a === "--screenshot") {
      opts.screenshot = argv[++i];
      if (!opts.screenshot) usage("--screenshot needs a file name");
    } else if (a === "--width") {
      opts.width = Number(argv[++i]);
      if (!(opts.width >= 200)) usage("--width needs a number of pixels (at least 200)");
    } else if (a === "-h" || a === "--help") {
      usage();
    } else if (a.startsWith("--")) {
      usage("unknown option " + a);
    } else if (opts.url === null) {
      opts.url = a;
    } else {
      usage("more than one URL");
    }
  }
  if (!opts.url) usage("the dashboard URL is required");
  return opts;
}

// Never print the token.
const redact = (s) => String(s).replace(/token=[^&\s"']*/g, "token=<redacted>").replace(/ota_[A-Za-z0-9_-]+/g, "ota_<redacted>");

const opts = parseArgs(process.argv.slice(2));
if (!/#(.*&)?token=./.test(opts.url)) usage("the URL has no #token=... fragment");

const problems = []; // page errors and console errors: any one fails the check
let browser;

async function shoot(page) {
  if (!opts.screenshot) return;
  try {
    await page.screenshot({ path: opts.screenshot, fullPage: true });
    console.error("check.mjs: screenshot written to " + opts.screenshot);
  } catch (e) {
    console.error("check.mjs: screenshot failed: " + e.message);
  }
}

// What the page shows, read from the DOM through the test ids only.
function observe() {
  const rollouts = [...document.querySelectorAll('[data-testid^="rollout-"][data-rollout-id]')].map((r) => ({
    id: r.dataset.rolloutId,
    state: r.querySelector('[data-testid="rollout-state"]')?.dataset.state ?? null,
    pause_reason: r.querySelector('[data-testid="pause-reason"]')?.textContent.trim() ?? null,
    // Per stage, both meanings of the counts: this stage's devices and so far (this stage and
    // every earlier one; the cohort is cumulative too).
    stages: [...r.querySelectorAll('[data-testid^="stage-"][data-committed]')].map((s) => ({
      stage: s.dataset.testid,
      offered: Number(s.dataset.offered),
      committed: Number(s.dataset.committed),
      failed: Number(s.dataset.failed),
      rolled_back: Number(s.dataset.rolledBack ?? 0),
      offered_so_far: Number(s.dataset.offeredSoFar),
      committed_so_far: Number(s.dataset.committedSoFar),
      cohort: s.dataset.cohort === "" ? null : Number(s.dataset.cohort),
      labelled: !!s.querySelector('[data-testid="this-stage"]') === !!s.querySelector('[data-testid="so-far"]'),
      current: s.dataset.current === "true",
    })),
    totals: r.querySelector('[data-testid="totals"]')?.textContent.trim() ?? null,
    timeline_events: r.querySelectorAll('[data-testid="timeline"] [data-kind]').length,
  }));
  const fleet = document.querySelector('[data-testid="fleet"]');
  const releases = document.querySelector('[data-testid="releases"]');
  const banner = document.querySelector('[data-testid="banner"]');
  return {
    address: location.href,
    last_updated: document.querySelector('[data-testid="last-updated"]')?.textContent ?? null,
    banner: banner && !banner.hidden ? banner.textContent : null,
    no_token_shown: !document.querySelector('[data-testid="no-token"]')?.hidden,
    rollouts,
    fleet_versions: fleet ? fleet.querySelectorAll("tr[data-version]").length : 0,
    releases: releases ? releases.querySelectorAll("tr[data-release-id]").length : 0,
  };
}

function satisfied(seen) {
  const progress = seen.rollouts.some((r) => r.stages.some((s) => s.committed > 0));
  const paused = seen.rollouts.some((r) => r.state === "paused" && r.pause_reason);
  return { progress, paused };
}

async function main() {
  const started = Date.now();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"],
  });
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: opts.width, height: 900 } });
  const page = await context.newPage();
  page.on("pageerror", (e) => problems.push("page error: " + redact(e.stack || e.message)));
  page.on("console", (m) => {
    if (m.type() === "error") {
      const where = m.location()?.url ? " (" + redact(m.location().url) + ")" : "";
      problems.push("console error: " + redact(m.text()) + where);
    }
  });
  page.on("crash", () => problems.push("the page crashed"));

  const response = await page.goto(opts.url, { waitUntil: "load", timeout: 30_000 });
  if (!response || !response.ok()) throw new Error("loading the page answered " + (response ? response.status() : "nothing"));

  const deadline = started + opts.timeoutS * 1000;
  let seen = null;
  let progressSeen = null; // the first observation with stage progress (a paused state may come later)
  for (;;) {
    if (problems.length > 0) break;
    seen = await page.evaluate(observe);
    if (/token=/.test(seen.address)) problems.push("the token is still in the address bar");
    if (seen.no_token_shown) problems.push("the page asks for a token: " + (seen.banner || "no token"));
    for (const r of seen.rollouts) {
      for (const s of r.stages) {
        // "So far" includes this stage: it can never be smaller.
        if (!(s.committed_so_far >= s.committed && s.offered_so_far >= s.offered)) {
          problems.push("rollout " + r.id + " " + s.stage + ": so-far counts below this stage's: " + JSON.stringify(s));
        }
        if (!s.labelled) problems.push("rollout " + r.id + " " + s.stage + ": shows one meaning of its counts without the other");
      }
    }
    const ok = satisfied(seen);
    if (ok.progress && !progressSeen) progressSeen = seen;
    if ((ok.progress || progressSeen) && ok.paused) {
      await shoot(page);
      console.log(
        JSON.stringify({
          ok: true,
          elapsed_ms: Date.now() - started,
          url: redact(opts.url),
          first_progress: progressSeen.rollouts
            .filter((r) => r.stages.some((s) => s.committed > 0))
            .map((r) => ({ id: r.id, state: r.state, stages: r.stages.filter((s) => s.committed > 0) })),
          paused: seen.rollouts.filter((r) => r.state === "paused" && r.pause_reason),
          rollouts: seen.rollouts.map((r) => ({ id: r.id, state: r.state })),
          fleet_versions: seen.fleet_versions,
          releases: seen.releases,
          last_updated: seen.last_updated,
        }),
      );
      return 0;
    }
    if (problems.length > 0 || Date.now() > deadline) break;
    await page.waitForTimeout(250);
  }

  await shoot(page);
  const text = await page
    .evaluate(() => document.querySelector('[data-testid="rollouts"]')?.innerText ?? document.body.innerText)
    .catch((e) => "(could not read the page: " + e.message + ")");
  const ok = seen ? satisfied(seen) : { progress: false, paused: false };
  console.log(
    JSON.stringify({
      ok: false,
      elapsed_ms: Date.now() - started,
      url: redact(opts.url),
      reason: problems.length > 0 ? "page reported errors" : "timed out after " + opts.timeoutS + " s",
      problems,
      saw_stage_progress: ok.progress || progressSeen !== null,
      saw_paused_with_reason: ok.paused,
      banner: seen?.banner ?? null,
    }),
  );
  console.error("--- rollouts section ---\n" + redact(text));
  return 1;
}

let code = 1;
try {
  code = await main();
} catch (e) {
  console.log(JSON.stringify({ ok: false, reason: redact(e.message), problems }));
  code = 1;
} finally {
  if (browser) await browser.close().catch(() => {});
}
process.exit(code);
