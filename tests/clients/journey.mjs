// The respondent's journey in headless Chromium: open a score link from an email, let the page
// record the score (its inline script posts it), add a comment, send, read the thank-you page.
// Usage: node journey.mjs <survey link>; prints what it saw as JSON.
import puppeteer from "puppeteer-core";

const link = process.argv[2];
const browser = await puppeteer.launch({
  executablePath: process.env.OVATION_TEST_CHROMIUM,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
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
  // Keyboard only: focus the comment, type, submit with the button.
  await page.focus("#comment");
  await page.keyboard.type("Fast and friendly <b>support</b>");
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("button[type=submit]")]);
  const heading = await page.$eval("h1", (e) => e.textContent);
  console.log(JSON.stringify({ saved, checked, heading, violations }));
} finally {
  await browser.close();
}
