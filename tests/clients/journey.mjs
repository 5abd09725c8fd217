// The respondent's journey in headless Chromium: open a score link from an email, let the page
// record the score (its inline script posts it), add a comment, send, read the thank-you page.
// Then every page again at phone and desktop widths, with and without JavaScript, a score of each
// group (detractor, passive, promoter) chosen: axe-core's violations of any impact, whether
// anything overflows the screen, and the page's language.
// Usage: node journey.mjs <survey link> <email HTML file, or ""> [<JSON of more pages by name>];
// prints what it saw as JSON (the email audited at 320 and 640 px, the other pages at each
// width). With OVATION_SCREENSHOTS=<dir> it keeps a screenshot of each page.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import puppeteer from "puppeteer-core";

const link = process.argv[2];
const mail = process.argv[3];
// More pages to audit at each width, by name: {"web link": url, "closed": url, …}.
const extra = JSON.parse(process.argv[4] ?? "{}");
const origin = new URL(link).origin;
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const browser = await puppeteer.launch({
  executablePath: process.env.OVATION_TEST_CHROMIUM,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});

// axe runs through DevTools (page.evaluate), which the pages' CSP does not govern.
async function audit(page, name) {
  // Scripts the page ran (or did not) stay as they were; axe needs evaluation enabled.
  await page.setJavaScriptEnabled(true);
  await page.evaluate(axeSource);
  const lang = await page.evaluate(() => document.documentElement.lang);
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document);
    return result.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  // OVATION_SCREENSHOTS=<dir> keeps a picture of each page, to look at.
  if (process.env.OVATION_SCREENSHOTS) {
    const file = `${lang}-${name.replaceAll(" ", "-")}.png`;
    await page.screenshot({ path: `${process.env.OVATION_SCREENSHOTS}/${file}`, fullPage: true });
  }
  return { name, violations, overflow, lang };
}

try {
  const page = await browser.newPage();
  const violations = [];
  page.on("console", (m) => { if (/Content Security Policy/.test(m.text())) violations.push(m.text()); });
  // The score link: the script posts the score, the server answers with the saved page.
  await Promise.all([
    page.waitForNavigation({ waitUntil: "load" }),
    page.goto(`${link}?score=9`, { waitUntil: "domcontentloaded" }),
  ]);
  await page.waitForFunction(() => location.search.includes("saved=1"), { timeout: 10000 });
  const saved = await page.$eval(".note", (e) => e.textContent);
  const checked = await page.$eval("input[name=score]:checked", (e) => e.value);
  // Another score clicked in the email: the script changes the answer, the GET does not.
  await Promise.all([
    page.waitForNavigation({ waitUntil: "load" }),
    page.goto(`${link}?score=2`, { waitUntil: "domcontentloaded" }),
  ]);
  await page.waitForFunction(() => location.search.includes("saved=1"), { timeout: 10000 });
  const changed = await page.$eval("input[name=score]:checked", (e) => e.value);
  // Keyboard only: focus the comment, type, submit with the button.
  await page.focus("#comment");
  await page.keyboard.type("Fast and friendly <b>support</b>");
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("button[type=submit]")]);
  const heading = await page.$eval("h1", (e) => e.textContent);

  // Every page at 320, 375 and 1280 px.
  const audits = [];
  // Each score differs from the one saved before it (the button saves the last of each width).
  for (const [width, scores] of [[320, [3, 8, 10]], [375, [4, 7, 9]], [1280, [5, 8, 10]]]) {
    await page.setViewport({ width, height: 800 });
    await page.setJavaScriptEnabled(true);
    await page.goto(link, { waitUntil: "load" });
    audits.push(await audit(page, `survey ${width}`));
    await page.setExtraHTTPHeaders({ "accept-language": (await page.evaluate(() => document.documentElement.lang)) });
    await page.goto(`${origin}/r/AAAA`, { waitUntil: "load" });
    audits.push(await audit(page, `invalid link ${width}`));
    // Without JavaScript, after a comment: another score from the email waits for Send, said so;
    // a detractor's, a passive's and a promoter's.
    await page.setJavaScriptEnabled(false);
    for (const score of scores) {
      await page.goto(`${link}?score=${score}`, { waitUntil: "load" });
      const unsent = await page.$eval(".note", (e) => e.textContent);
      audits.push({ ...(await audit(page, `survey without script score ${score} ${width}`)), unsent });
      await page.setJavaScriptEnabled(false);
    }
    await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("button[type=submit]")]);
    audits.push(await audit(page, `thanks ${width}`));
    for (const [name, url] of Object.entries(extra)) {
      await page.goto(url, { waitUntil: "load" });
      audits.push(await audit(page, `${name} ${width}`));
    }
  }
  if (mail) {
    for (const width of [320, 640]) {
      await page.setViewport({ width, height: 800 });
      await page.goto(`file://${mail}`, { waitUntil: "load" });
      audits.push(await audit(page, `email ${width}`));
    }
  }
  console.log(JSON.stringify({ saved, checked, changed, heading, violations, audits }));
} finally {
  await browser.close();
}
