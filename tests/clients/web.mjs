// The staff web app in headless Chromium: the sign-in page, signing in through it, the overview
// (its menu open too), and signing out; each page audited by axe-core at 1280 and 375 px
// (violations of any impact), for horizontal overflow, and for CSP reports. Keyboard: the first
// Tab reaches the skip link.
// Usage: node web.mjs <base url> <workspace> <email> <password>; prints what it saw as JSON.
// With OVATION_SCREENSHOTS=<dir> it keeps a screenshot of each page at each width.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import puppeteer from "puppeteer-core";

const [base, workspace, email, password, acceptLink] = process.argv.slice(2);
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const browser = await puppeteer.launch({
  executablePath: process.env.OVATION_TEST_CHROMIUM,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});

const widths = [1280, 375];
const audits = [];
const csp = [];

async function audit(page, name) {
  for (const width of widths) {
    await page.setViewport({ width, height: 900 });
    await page.evaluate(axeSource);
    const violations = await page.evaluate(async () => {
      const result = await window.axe.run(document);
      return result.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
    });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    // What reaches furthest right, to name it when something overflows.
    const widest = overflow <= 0 ? "" : await page.evaluate(() => {
      let best = null;
      for (const e of document.querySelectorAll("body *")) {
        if (!best || e.getBoundingClientRect().right > best.getBoundingClientRect().right) best = e;
      }
      return best ? `${best.tagName}.${best.className} ${best.textContent.slice(0, 40)}` : "";
    });
    if (process.env.OVATION_SCREENSHOTS) {
      await page.screenshot({ path: `${process.env.OVATION_SCREENSHOTS}/web-${name}-${width}.png`, fullPage: true });
    }
    audits.push({ name, width, violations, overflow, widest });
  }
}

try {
  const page = await browser.newPage();
  // A viewer in Copenhagen: the results pages follow their time zone.
  await page.emulateTimezone("Europe/Copenhagen");
  page.on("console", (m) => { if (/Content Security Policy/.test(m.text())) csp.push(m.text()); });
  await page.goto(`${base}/sign-in`, { waitUntil: "load" });
  await audit(page, "sign-in");
  await page.keyboard.press("Tab");
  const firstTab = await page.evaluate(() => document.activeElement?.className ?? "");
  await page.$eval("#workspace", (e) => { e.value = ""; });
  await page.type("#workspace", workspace);
  await page.type("#email", email);
  await page.type("#password", password);
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("button[type=submit]")]);
  const landed = new URL(page.url()).pathname;
  if (landed !== "/overview") {
    console.log(JSON.stringify({ landed, html: await page.content(), cookies: await page.cookies() }));
    process.exit(0);
  }
  const nps = await page.$eval(".card .figure", (e) => e.textContent.trim());
  await page.waitForFunction(() => location.search.includes("zone="), { timeout: 5000 });
  const zone = await page.$eval("#zone", (e) => e.value);
  await audit(page, "overview");
  await page.click(".menu summary");
  await audit(page, "overview-menu");
  await page.goto(`${base}/security`, { waitUntil: "load" });
  await audit(page, "security");
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("form.narrow-form button[type=submit]")]);
  const qr = await page.$$eval("svg.qr", (svgs) => svgs.length);
  await audit(page, "security-enrol");
  await page.goto(`${base}/segments`, { waitUntil: "load" });
  await audit(page, "segments");
  // The feed, narrowed to detractors through its form, then a response tagged on its page.
  await page.goto(`${base}/responses`, { waitUntil: "load" });
  await audit(page, "responses");
  await page.select("#group", "detractor");
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click(".filters button[type=submit]")]);
  const detractors = await page.$$eval(".feed .item", (items) => items.length);
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click(".feed .item a")]);
  await audit(page, "response");
  await page.$eval("#tags", (e) => { e.value = ""; });
  await page.type("#tags", "follow-up");
  await page.type("#note", "Called them back.");
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("form.stack button[type=submit]")]);
  const tagged = await page.$eval("#tags", (e) => e.value);
  const notes = await page.$$eval(".notes li", (items) => items.length);
  await page.goto(`${base}/overview`, { waitUntil: "load" });
  await page.click(".menu summary");
  await Promise.all([
    page.waitForNavigation({ waitUntil: "load" }),
    page.click(".menu-body form:first-of-type button"),
  ]);
  const signedOut = new URL(page.url()).pathname;
  await page.goto(`${base}/overview`, { waitUntil: "load" });
  const afterSignOut = new URL(page.url()).pathname;
  await page.goto(`${base}/no-such-page`, { waitUntil: "load" });
  await audit(page, "not-found");
  await page.goto(`${base}/forgot`, { waitUntil: "load" });
  await audit(page, "forgot");
  // A colleague accepts the mailed invitation in a browser of their own.
  const colleague = await (await browser.createBrowserContext()).newPage();
  colleague.on("console", (m) => { if (/Content Security Policy/.test(m.text())) csp.push(m.text()); });
  await colleague.goto(acceptLink, { waitUntil: "load" });
  await audit(colleague, "accept");
  await colleague.type("#name", "Nina New");
  await colleague.type("#password", password);
  await colleague.type("#confirm_password", password);
  await Promise.all([colleague.waitForNavigation({ waitUntil: "load" }), colleague.click("button[type=submit]")]);
  const joined = new URL(colleague.url()).pathname;
  console.log(JSON.stringify({ firstTab, landed, nps, zone, detractors, tagged, notes, signedOut, afterSignOut, joined, qr, audits, csp }));
} finally {
  await browser.close();
}
