// The staff web app in headless Chromium, one journey a role beside the owner's (web.mjs): an
// admin invites a colleague who accepts from the outbox's mail, makes an API key and revokes it
// (the next call refused); an editor, with no settings or team in sight, builds a survey in two
// languages watching its preview, imports a CSV with bad rows and downloads them, adds a person
// with a survey and finds the mail in the outbox page; an analyst sees neither settings nor
// people, is refused the settings page and a direct POST to it, chooses mail about detractors,
// and finds the one notification a detractor's answer makes in the outbox page. Each new page
// audited by axe-core at 1280 and 375 px.
// Usage: node web-roles.mjs <base url> <workspace> <password> <outbox dir> <signal dir>; prints
// what it saw as JSON. Writing `<signal dir>/answer` asks the test to record a detractor's
// answer and run the notifier.
// With OVATION_SCREENSHOTS=<dir> it keeps a screenshot of each page at each width.
import { writeFileSync } from "node:fs";
import { auditor, buildSurvey, importCsv, lastMailIn, launch, makeAndRevokeKey } from "./web-steps.mjs";

const [base, workspace, password, outbox, signals] = process.argv.slice(2);
const browser = await launch();
const { audits, audit } = auditor("roles");
const seen = {};
const wait = (ms) => new Promise((done) => setTimeout(done, ms));

// A browser of the user's own, signed in.
async function signIn(email) {
  const page = await (await browser.createBrowserContext()).newPage();
  await page.goto(`${base}/sign-in`, { waitUntil: "load" });
  await page.type("#workspace", workspace);
  await page.type("#email", email);
  await page.type("#password", password);
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("button[type=submit]")]);
  return page;
}
const navOf = (page) => page.$$eval("header nav a", (links) => links.map((a) => a.textContent.trim()));

// The outbox page's row of the newest mail to `to` whose text has `words`: opened, its page audited.
async function openMail(page, to, words, name) {
  for (let i = 0; i < 80; i++) {
    await page.goto(`${base}/dev/outbox`, { waitUntil: "load" });
    const href = await page.$$eval("tbody tr", (rows, to, words) => {
      const row = rows.find((r) => r.textContent.includes(to) && r.textContent.includes(words));
      return row ? row.querySelector("td.what a").getAttribute("href") : null;
    }, to, words).catch(() => null);
    if (href) {
      await page.goto(`${base}${href}`, { waitUntil: "load" });
      await audit(page, name);
      return page.$eval("body", (b, to) => b.textContent.includes(to), to);
    }
    await wait(250);
  }
  return false;
}

try {
  // The admin: a colleague invited and joined, an API key made and revoked.
  const admin = await signIn("admin@acme.example");
  seen.adminNav = await navOf(admin);
  await admin.goto(`${base}/team`, { waitUntil: "load" });
  await admin.type("#email", "zoe@acme.example");
  await admin.select("#role", "analyst");
  await Promise.all([admin.waitForNavigation({ waitUntil: "load" }), admin.click("form.narrow-form button[type=submit]")]);
  seen.invited = await admin.$eval(".notice", (e) => e.textContent.trim());
  const link = lastMailIn(outbox, "zoe@acme.example").match(/https?:\/\/\S+accept\?token=\S+/)[0];
  const zoe = await (await browser.createBrowserContext()).newPage();
  const accept = new URL(link);
  await zoe.goto(`${base}${accept.pathname}${accept.search}`, { waitUntil: "load" });
  await zoe.type("#password", password);
  await zoe.type("#confirm_password", password);
  await Promise.all([zoe.waitForNavigation({ waitUntil: "load" }), zoe.click("button[type=submit]")]);
  seen.joined = new URL(zoe.url()).pathname;
  seen.adminKeys = await makeAndRevokeKey(admin, base, (name) => audit(admin, `admin-${name}`), "Admin's key");

  // The editor: no settings; a survey built, a CSV imported, a person sent a survey.
  const editor = await signIn("editor@acme.example");
  seen.editorNav = await navOf(editor);
  await audit(editor, "editor-overview");
  seen.editorSurvey = await buildSurvey(editor, base, (name) => audit(editor, `editor-${name}`), "Editor's survey");
  seen.editorImport = await importCsv(editor, base, (name) => audit(editor, `editor-${name}`), `${signals}/people.csv`);
  await editor.goto(`${base}/people`, { waitUntil: "load" });
  await editor.type("#email", "sam@example.com");
  await editor.click("input[name=send][value=on]");
  await Promise.all([editor.waitForNavigation({ waitUntil: "load" }), editor.click("form.narrow-form button[type=submit]")]);
  seen.editorSent = await editor.$eval(".notice", (e) => e.textContent.trim());
  seen.editorMail = await openMail(editor, "sam@example.com", "", "outbox-survey");

  // The analyst: no settings, refused them even by a direct POST; mail about detractors.
  const analyst = await signIn("analyst@acme.example");
  seen.analystNav = await navOf(analyst);
  await audit(analyst, "analyst-overview");
  const csrf = await analyst.$eval("input[name=csrf]", (e) => e.value);
  seen.analystSettingsPage = (await analyst.goto(`${base}/settings/keys`, { waitUntil: "load" })).status();
  await audit(analyst, "analyst-refused");
  const cookie = (await analyst.cookies()).map((c) => `${c.name}=${c.value}`).join("; ");
  seen.analystSettingsPost = (await fetch(`${base}/settings/keys`, {
    method: "POST",
    headers: { cookie, origin: base, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ csrf, name: "Sneaky" }),
    redirect: "manual",
  })).status;
  await analyst.goto(`${base}/notifications`, { waitUntil: "load" });
  const support = await analyst.$$eval("tbody tr", (rows) =>
    rows.find((r) => r.textContent.includes("Support")).querySelector("select").id);
  await analyst.select(`#${support}`, "detractors");
  await Promise.all([analyst.waitForNavigation({ waitUntil: "load" }), analyst.click("form.stack button[type=submit]")]);
  await audit(analyst, "analyst-notifications");
  writeFileSync(`${signals}/answer`, "go");
  seen.analystMail = await openMail(analyst, "analyst@acme.example", "new detractor", "outbox-notification");
} finally {
  await browser.close();
}
console.log(JSON.stringify({ ...seen, audits }));
