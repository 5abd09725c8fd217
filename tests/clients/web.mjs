// The staff web app in headless Chromium: the sign-in page, signing in through it, the overview
// (its menu open too), segments, the feed filtered, a response tagged, signing out; a colleague
// accepting the mailed invitation, turning on a second factor and signing in with a code, then
// resetting a forgotten password from the mail in the outbox. Each page audited by axe-core at
// 1280 and 375 px (violations of any impact), for horizontal overflow, and for CSP reports.
// Keyboard: the first Tab reaches the skip link.
// Usage: node web.mjs <base url> <workspace> <email> <password> <invitation link> <outbox dir>;
// prints what it saw as JSON.
// With OVATION_SCREENSHOTS=<dir> it keeps a screenshot of each page at each width.
import { createHmac } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import puppeteer from "puppeteer-core";

const [base, workspace, email, password, acceptLink, outbox] = process.argv.slice(2);

// RFC 6238 with SHA-1, 6 digits, 30 s steps: the code an authenticator app shows.
function totp(base32, steps = 0) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of base32.replace(/=+$/, "")) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30) + steps));
  const mac = createHmac("sha1", key).update(counter).digest();
  const at = mac[mac.length - 1] & 15;
  return String((mac.readUInt32BE(at) & 0x7fffffff) % 1e6).padStart(6, "0");
}

// The newest mail in the outbox to `to`: its plain-text part.
function lastMailTo(to) {
  const mails = readdirSync(outbox).filter((f) => f.endsWith(".eml"))
    .map((f) => ({ f, t: statSync(`${outbox}/${f}`).mtimeMs, raw: readFileSync(`${outbox}/${f}`, "utf8") }))
    .filter((m) => m.raw.includes(to)).sort((a, b) => a.t - b.t);
  const raw = mails.at(-1).raw;
  const body = raw.slice(raw.indexOf("text/plain")).split("\r\n\r\n")[1].split("\r\n--")[0];
  return Buffer.from(body.replace(/\r\n/g, ""), "base64").toString("utf8");
}
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
  // The colleague turns on a second factor, signs out, and signs in again with a code.
  await colleague.goto(`${base}/security`, { waitUntil: "load" });
  await Promise.all([colleague.waitForNavigation({ waitUntil: "load" }), colleague.click("form.narrow-form button[type=submit]")]);
  const secret = await colleague.$eval("code.secret", (e) => e.textContent.trim());
  await colleague.type("#code", totp(secret));
  await Promise.all([colleague.waitForNavigation({ waitUntil: "load" }), colleague.click("form.narrow-form button[type=submit]")]);
  await audit(colleague, "recovery-codes");
  const recovery = await colleague.$$eval(".codes li", (items) => items.length);
  await colleague.goto(`${base}/overview`, { waitUntil: "load" });
  await colleague.click(".menu summary");
  await Promise.all([colleague.waitForNavigation({ waitUntil: "load" }), colleague.click(".menu-body form:first-of-type button")]);
  await colleague.type("#workspace", workspace);
  await colleague.type("#email", "nina@acme.example");
  await colleague.type("#password", password);
  await Promise.all([colleague.waitForNavigation({ waitUntil: "load" }), colleague.click("button[type=submit]")]);
  await audit(colleague, "second-factor");
  // The enrolment's code is never taken twice: the next step's (within the allowed drift).
  await colleague.type("#code", totp(secret, 1));
  await Promise.all([colleague.waitForNavigation({ waitUntil: "load" }), colleague.click("button[type=submit]")]);
  const withCode = new URL(colleague.url()).pathname;
  // The owner forgot their password: the mailed link sets a new one.
  const stranger = await (await browser.createBrowserContext()).newPage();
  await stranger.goto(`${base}/forgot`, { waitUntil: "load" });
  await stranger.type("#workspace", workspace);
  await stranger.type("#email", email);
  await Promise.all([stranger.waitForNavigation({ waitUntil: "load" }), stranger.click("button[type=submit]")]);
  const mail = lastMailTo(email);
  // The link on this stack's address (the mail names the configured public URL).
  const link = new URL(mail.match(/https?:\/\/\S+\/reset\?token=\S+/)[0]);
  await stranger.goto(`${base}${link.pathname}${link.search}`, { waitUntil: "load" });
  await audit(stranger, "reset");
  const fresh = `${password} renewed`;
  await stranger.type("#new_password", fresh);
  await stranger.type("#confirm_password", fresh);
  await Promise.all([stranger.waitForNavigation({ waitUntil: "load" }), stranger.click("button[type=submit]")]);
  await stranger.type("#workspace", workspace);
  await stranger.type("#email", email);
  await stranger.type("#password", fresh);
  await Promise.all([stranger.waitForNavigation({ waitUntil: "load" }), stranger.click("button[type=submit]")]);
  const afterReset = new URL(stranger.url()).pathname;
  console.log(JSON.stringify({ firstTab, landed, nps, zone, detractors, tagged, notes, signedOut, afterSignOut, joined, qr, recovery, withCode, afterReset, audits, csp }));
} finally {
  await browser.close();
}
