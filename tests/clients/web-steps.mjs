// Journey steps the staff web app's Chromium scripts share (web.mjs, the owner's; web-roles.mjs,
// the other roles'): each drives a page through a capability and returns what it saw; `audit`
// audits the page as it stands under a name.
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import puppeteer from "puppeteer-core";

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const widths = [1280, 375];

// The newest mail in the outbox folder to `to`: its plain-text part.
export function lastMailIn(outbox, to) {
  const mails = readdirSync(outbox).filter((f) => f.endsWith(".eml"))
    .map((f) => ({ f, t: statSync(`${outbox}/${f}`).mtimeMs, raw: readFileSync(`${outbox}/${f}`, "utf8") }))
    .filter((m) => m.raw.includes(to)).sort((a, b) => a.t - b.t);
  const raw = mails.at(-1).raw;
  const body = raw.slice(raw.indexOf("text/plain")).split("\r\n\r\n")[1].split("\r\n--")[0];
  return Buffer.from(body.replace(/\r\n/g, ""), "base64").toString("utf8");
}

// Headless Chromium (OVATION_TEST_CHROMIUM).
export function launch() {
  return puppeteer.launch({
    executablePath: process.env.OVATION_TEST_CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
}

// An audit log and its `audit(page, name)`: axe-core at each width (violations of any impact),
// horizontal overflow (naming what reaches furthest right), and with OVATION_SCREENSHOTS=<dir>
// a screenshot `<prefix>-<name>-<width>.png`. A page that reloads itself (a running job's) is
// audited again once reloaded.
export function auditor(prefix) {
  const audits = [];
  async function auditAt(page, name, width) {
    await page.setViewport({ width, height: 900 });
    await page.evaluate(axeSource);
    const violations = await page.evaluate(async () => {
      const result = await window.axe.run(document);
      return result.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
    });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    const widest = overflow <= 0 ? "" : await page.evaluate(() => {
      let best = null;
      for (const e of document.querySelectorAll("body *")) {
        if (!best || e.getBoundingClientRect().right > best.getBoundingClientRect().right) best = e;
      }
      return best ? `${best.tagName}.${best.className} ${best.textContent.slice(0, 40)}` : "";
    });
    if (process.env.OVATION_SCREENSHOTS) {
      await page.screenshot({ path: `${process.env.OVATION_SCREENSHOTS}/${prefix}-${name}-${width}.png`, fullPage: true });
    }
    audits.push({ name, width, violations, overflow, widest });
  }
  async function audit(page, name) {
    for (const width of widths) {
      for (let attempt = 0; ; attempt++) {
        try {
          await auditAt(page, name, width);
          break;
        } catch (e) {
          if (attempt >= 3 || !/context was destroyed|navigation/i.test(String(e))) throw e;
          await page.waitForNavigation({ waitUntil: "load", timeout: 10000 }).catch(() => {});
        }
      }
    }
  }
  return { audits, audit };
}

// A download fetched with the page's cookies (the CSP lets no script of the page fetch): its
// type and lines.
export async function fetched(page, href) {
  const cookie = (await page.cookies()).map((c) => `${c.name}=${c.value}`).join("; ");
  const answer = await fetch(href, { headers: { cookie } });
  return { type: answer.headers.get("content-type"), lines: (await answer.text()).trim().split("\n").length };
}

export async function buildSurvey(page, base, audit, name) {
  // A survey built in its page: two languages, a question added in both, the preview following
  // the form as it is typed (its frame posted to again), then saved.
  await page.goto(`${base}/surveys`, { waitUntil: "load" });
  await audit("surveys");
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("a.button")]);
  await audit("survey-new");
  for (const code of ["da", "nl", "de", "es", "sv", "nb"]) await page.click(`input[name=lang_${code}]`);
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("button[value=languages]")]);
  await page.type("#name", name);
  await page.select("#add_kind", "single");
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("button[value=add]")]);
  await page.type("#q0_text_en", "Which plan are you on?");
  await page.type("#q0_choices_en", "Free\nPaid");
  await page.type("#q0_text_fr", "Quelle offre avez-vous ?");
  await page.type("#q0_choices_fr", "Gratuite\nPayante");
  const entriesBefore = await page.evaluate(() => history.length);
  await page.select("#preview_language", "fr");
  const previewed = async (wanted) => {
    for (let i = 0; i < 40; i++) {
      await new Promise((done) => setTimeout(done, 250));
      const frame = page.frames().find((f) => f.name() === "preview");
      const text = frame ? await frame.evaluate(() => document.body?.innerText ?? "").catch(() => "") : "";
      if (text.includes(wanted)) return text;
    }
    return null;
  };
  const before = await previewed("Email in French");
  await page.type("#question_fr", "Nous recommanderiez-vous ?");
  const after = await previewed("Nous recommanderiez-vous ?");
  const entries = await page.evaluate(() => history.length);
  // Limited to the first team, ticked by keyboard, when the workspace has teams.
  const team = await page.$("input[name^=team_]:not([disabled])");
  if (team) {
    await team.focus();
    await page.keyboard.press("Space");
  }
  await audit("survey-form");
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click(".actions button[value=save]")]);
  const surveySaved = await page.$eval(".notice", (e) => e.textContent.trim());
  await audit("survey-saved");
  const limitedTo = await page.$$eval("input[name^=team_]:checked", (ticked) => ticked.map((t) => t.parentElement.textContent.trim()));
  return { before: before !== null, after: after !== null, entries: entries - entriesBefore, saved: surveySaved, limitedTo };
}

export async function makeAndRevokeKey(page, base, audit, name) {
  // An API key made in the settings (shown once), working, then revoked and refused.
  await page.goto(`${base}/settings/keys`, { waitUntil: "load" });
  await audit("keys");
  await page.type("#name", name);
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("form.narrow-form button[type=submit]")]);
  const apiKey = await page.$eval("#secret", (e) => e.textContent.trim());
  await audit("key-made");
  const keyCall = async () => (await fetch(`${base}/v1/metrics`, { headers: { authorization: `Bearer ${apiKey}` } })).status;
  const keyWorked = await keyCall();
  await page.goto(`${base}/settings/keys`, { waitUntil: "load" });
  const inRow = (selector) => page.$$eval("table tr", (rows, selector, name) =>
    rows.find((r) => r.textContent.includes(name)).querySelector(selector).click(), selector, name);
  await inRow("summary");
  await audit("key-revoke");
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), inRow("button[type=submit]")]);
  return [keyWorked, await keyCall()];
}

export async function importCsv(page, base, audit, csvPath) {
  // A CSV with bad rows imported: uploaded, its columns mapped, run as a job, its refused rows
  // downloaded.
  await page.goto(`${base}/people/imports`, { waitUntil: "load" });
  await audit("imports");
  writeFileSync(csvPath, "Email,Name,Plan\nlin@example.com,Lin,pro\nnot-an-email,Max,free\nkai@example.com,=1+2,free\n");
  const fileInput = await page.$("#file");
  await fileInput.uploadFile(csvPath);
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("form.narrow-form button[type=submit]")]);
  await audit("import-mapping");
  const importPath = new URL(page.url()).pathname;
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("main form.stack > button[type=submit]")]);
  let imported = null;
  for (let i = 0; i < 60 && !imported; i++) {
    imported = await page.$eval("a[href$='/errors']", (a) => a.href).catch(() => null);
    if (!imported) {
      await new Promise((done) => setTimeout(done, 250));
      await page.goto(`${base}${importPath}`, { waitUntil: "load" });
    }
  }
  await audit("import-done");
  return fetched(page, imported);
}
