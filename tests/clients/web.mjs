// The staff web app in headless Chromium: the sign-in page, signing in through it, the overview
// (its menu open too), segments, the feed filtered, a response tagged, the feed exported (a
// direct file, then a job: its page waiting, then done, then its file), the password page, the
// team (a user's changes open too; a team made, the colleague added), a survey built with its live preview, an API key made and revoked, a person added and sent a survey, a missing response's page, signing out; a colleague accepting the mailed invitation, turning on
// a second factor and signing in with a code, then resetting a forgotten password from the mail
// in the outbox (and the used invitation's page). Each page audited by axe-core at
// 1280 and 375 px (violations of any impact), for horizontal overflow, and for CSP reports.
// Keyboard: the first Tab reaches the skip link.
// Usage: node web.mjs <base url> <workspace> <email> <password> <invitation link> <outbox dir>
// <export signal file>; prints what it saw as JSON. The export job runs once the signal file
// exists (written after its waiting page is audited).
// With OVATION_SCREENSHOTS=<dir> it keeps a screenshot of each page at each width.
import { createHmac } from "node:crypto";
import { writeFileSync } from "node:fs";
import { auditor, buildSurvey, fetched as fetchedWith, importCsv, lastMailIn, launch, makeAndRevokeKey } from "./web-steps.mjs";

const [base, workspace, email, password, acceptLink, outbox, exportSignal] = process.argv.slice(2);

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

const lastMailTo = (to) => lastMailIn(outbox, to);
const browser = await launch();
const csp = [];
const { audits, audit } = auditor("web");

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
  // The feed's filter as a direct download, then as a job: its page waiting, then its file.
  await page.goto(`${base}/responses`, { waitUntil: "load" });
  // A download, fetched with the page's cookies (the CSP lets no script of the page fetch).
  const fetched = (href) => fetchedWith(page, href);
  const csvLink = await page.$$eval("a", (links) => links.find((a) => a.textContent.trim() === "CSV").href);
  const direct = await fetched(csvLink);
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("form.inline button[type=submit]")]);
  const job = new URL(page.url()).pathname;
  await audit(page, "export-waiting");
  writeFileSync(exportSignal, "go");
  let fileLink = null;
  for (let i = 0; i < 60 && !fileLink; i++) {
    await new Promise((done) => setTimeout(done, 250));
    await page.goto(`${base}${job}`, { waitUntil: "load" });
    fileLink = await page.$eval("a[href$='/file']", (a) => a.href).catch(() => null);
  }
  await audit(page, "export-done");
  const exported = await fetched(fileLink);
  await page.goto(`${base}/password`, { waitUntil: "load" });
  await audit(page, "password");
  // Your notifications: detractors of the first survey and its digest, chosen by keyboard.
  await page.goto(`${base}/notifications`, { waitUntil: "load" });
  await page.focus("select[name^='answers.']");
  await page.select("select[name^='answers.']", "detractors");
  await page.focus("input[name^='digest.']");
  await page.keyboard.press("Space");
  await page.focus("form.stack button[type=submit]");
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.keyboard.press("Enter")]);
  await audit(page, "notifications");
  const notifications = await page.$eval("select[name^='answers.']", (e) => e.value) + " " +
    await page.$eval("input[name^='digest.']", (e) => e.checked);
  // The team: the invited colleague listed, their changes behind a disclosure.
  await page.goto(`${base}/team`, { waitUntil: "load" });
  const team = await page.$$eval("ul.team:first-of-type .item", (items) => items.length);
  await audit(page, "team");
  await page.click(".team details summary");
  await audit(page, "team-change");
  // A team made by keyboard, the colleague added to it.
  await page.focus("#new-team");
  await page.keyboard.type("Support");
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.keyboard.press("Enter")]);
  await page.click("#teams + p + ul details summary");
  await page.focus("input[id^='team-add-']");
  await page.keyboard.type("owner@acme.example");
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.keyboard.press("Enter")]);
  await page.click("#teams + p + ul details summary");
  await audit(page, "teams");
  const teams = await page.$eval("#teams + p + ul .item", (e) => e.innerText.replace(/\s+/g, " ").trim());
  const surveyBuilt = await buildSurvey(page, base, (name) => audit(page, name), "Onboarding");
  const keyCalls = await makeAndRevokeKey(page, base, (name) => audit(page, name), "CRM sync");
  await page.goto(`${base}/settings/webhooks`, { waitUntil: "load" });
  await audit(page, "webhooks");
  await page.type("#url", "https://hooks.example.com/ovation");
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("form.narrow-form button[type=submit]")]);
  const hookSecret = await page.$eval("#secret", (e) => e.textContent.trim());
  await audit(page, "webhook-made");
  await page.click("main details summary");
  await audit(page, "webhook-change");
  // A site key for the website survey: made through the form, its snippet shown.
  await page.goto(`${base}/settings/website`, { waitUntil: "load" });
  await audit(page, "website");
  await page.type("#name", "Shop");
  await page.type("#origins", "https://shop.example.com\nhttps://*.example.org");
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("form.narrow-form button[type=submit]")]);
  await page.click("main .feed details summary");
  const siteKey = await page.$eval("main .feed pre.snippet", (e) => e.textContent);
  await audit(page, "website-made");
  await page.$$eval("main .feed summary", (s) => s.find((e) => e.textContent.startsWith("Signed emails")).click());
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("main .feed button[value=new_identity_secret]")]);
  const newSecret = await page.$eval("p.notice", (e) => e.textContent);
  await page.goto(`${base}/settings/data`, { waitUntil: "load" });
  await audit(page, "settings-data");
  await page.goto(`${base}/settings/audit`, { waitUntil: "load" });
  await audit(page, "settings-audit");
  await page.goto(`${base}/settings/workspace`, { waitUntil: "load" });
  await audit(page, "settings-workspace");
  await page.goto(`${base}/people/suppressed`, { waitUntil: "load" });
  await audit(page, "people-suppressed");
  await page.goto(`${base}/autopilot`, { waitUntil: "load" });
  await audit(page, "autopilot");
  // A person added with a survey to send, their page, its erase form open.
  await page.goto(`${base}/people`, { waitUntil: "load" });
  await audit(page, "people");
  await page.type("#email", "grace@example.com");
  await page.type("#name", "Grace Hopper");
  await page.click("input[name=send][value=on]");
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("form.narrow-form button[type=submit]")]);
  const personSaved = await page.$eval(".notice", (e) => e.textContent.trim());
  await audit(page, "person");
  await page.click("main details summary");
  await audit(page, "person-erase");
  const importErrors = await importCsv(page, base, (name) => audit(page, name), `${exportSignal}.csv`);
  await page.goto(`${base}/responses/01ARZ3NDEKTSV4RRFFQ69G5FAV`, { waitUntil: "load" });
  const missing = await page.$eval("h1", (e) => e.textContent.trim());
  await audit(page, "missing-response");
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
  await audit(stranger, "forgot-sent");
  const mail = lastMailTo(email);
  // The link on this stack's address (the mail names the configured public URL).
  const link = new URL(mail.match(/https?:\/\/\S+\/reset\?token=\S+/)[0]);
  await stranger.goto(`${base}${link.pathname}${link.search}`, { waitUntil: "load" });
  await audit(stranger, "reset");
  // An invitation link already used: its message page.
  await stranger.goto(acceptLink, { waitUntil: "load" });
  const usedInvitation = await stranger.$eval("h1", (e) => e.textContent.trim());
  await audit(stranger, "invitation-used");
  await stranger.goto(`${base}${link.pathname}${link.search}`, { waitUntil: "load" });
  const fresh = `${password} renewed`;
  await stranger.type("#new_password", fresh);
  await stranger.type("#confirm_password", fresh);
  await Promise.all([stranger.waitForNavigation({ waitUntil: "load" }), stranger.click("button[type=submit]")]);
  await stranger.type("#workspace", workspace);
  await stranger.type("#email", email);
  await stranger.type("#password", fresh);
  await Promise.all([stranger.waitForNavigation({ waitUntil: "load" }), stranger.click("button[type=submit]")]);
  const afterReset = new URL(stranger.url()).pathname;
  console.log(JSON.stringify({ importErrors, notifications, surveyBuilt, keyCalls, personSaved, hookSecret, siteKey, newSecret, firstTab, landed, nps, zone, detractors, tagged, notes, direct, job, exported, missing, usedInvitation, team, teams, signedOut, afterSignOut, joined, qr, recovery, withCode, afterReset, audits, csp }));
} finally {
  await browser.close();
}
