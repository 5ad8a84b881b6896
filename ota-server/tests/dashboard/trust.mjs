#!/usr/bin/env node
// Does the system Chromium trust the server's certificate, with the trust store it has?
//
//   HOME=/some/home node trust.mjs https://localhost:PORT/dashboard
//
// Opens the URL with certificate errors NOT ignored (unlike check.mjs). Chromium on Linux reads
// the trusted authorities from $HOME/.pki/nssdb, which is what `ota-server init`'s printed
// certutil command writes. Prints one JSON line {"trusted": bool, "error"?: "...", "title"?: "..."}
// and exits 0 either way (the caller asserts); 2 on usage errors.
import { chromium } from "playwright-core";

const url = process.argv[2];
if (!url || process.argv.length > 3) {
  console.error("usage: HOME=DIR node trust.mjs <https-url>");
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  env: { ...process.env },
  args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"],
});
let result;
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: false });
  const page = await context.newPage();
  try {
    const response = await page.goto(url, { waitUntil: "domcontentloaded", timeout: 30000 });
    result = { trusted: !!response && response.ok(), status: response?.status(), title: await page.title() };
  } catch (e) {
    result = { trusted: false, error: String(e.message || e).split("\n")[0] };
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
