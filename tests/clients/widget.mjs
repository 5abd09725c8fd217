// The website survey in Chromium: a customer's page on a second loopback origin, with a strict
// CSP that allows only Ovation's origin and a hostile stylesheet, includes Delighted's loader
// pointed at Ovation. Usage: node widget.mjs <ovation-url> <host-port> <loader-js>; prints what it
// saw as JSON on its last line (the Rust test checks the records through the API).
import http from "node:http";
import { auditor, launch } from "./web-steps.mjs";

const [base, hostPort, loader] = process.argv.slice(2);
const allowed = `http://127.0.0.1:${hostPort}`;
const elsewhere = `http://localhost:${hostPort}`;
const csp = `default-src 'self'; script-src 'self' ${base}; connect-src ${base}; style-src 'self'; img-src 'self'`;
const app = `window.__events = []; window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) { __violations.push(e.violatedDirective + " " + e.blockedURI); });
${loader}
ovation.survey({
  minTimeOnPage: 2,
  properties: { plan: "pro", questionProductName: "Acme Shop" },
  onShow: function () { __events.push("show"); },
  onRespond: function (score) { __events.push("respond:" + score); },
  onComment: function () { __events.push("comment"); },
  onSubmit: function () { __events.push("submit"); },
  onHide: function () { __events.push("hide"); }
});`;
const page = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Acme Shop</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/hostile.css"><script src="/app.js"></script></head>
<body><main><h1>Acme Shop</h1><div><p>Your cart is ready.</p></div><p>Free delivery over 50 EUR.</p></main></body></html>`;
const host = http.createServer((req, res) => {
  const [type, body] = {
    "/hostile.css": ["text/css", "* { all: unset; } div { display: none; }"],
    "/app.js": ["text/javascript", app],
  }[req.url] ?? ["text/html; charset=utf-8", page];
  res.writeHead(200, { "content-type": type, "content-security-policy": csp, "cache-control": "no-store" });
  res.end(body);
});
await new Promise((ok) => host.listen(Number(hostPort), "127.0.0.1", ok));

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const bar = "ovation-survey >>> section.bar";
const seen = { violations: [] };
const { audits, audit } = auditor("widget");
const browser = await launch();

// Opens the shop in `context`; a bar appears within `wait` ms, or none. `reduced`: the visitor
// asks for reduced motion.
async function open(context, origin, wait, reduced = false) {
  const tab = await context.newPage();
  await tab.setViewport({ width: 1280, height: 800 });
  if (reduced) await tab.emulateMediaFeatures([{ name: "prefers-reduced-motion", value: "reduce" }]);
  const started = Date.now();
  await tab.goto(`${origin}/shop`, { waitUntil: "load" });
  const early = await tab.$(bar);
  const shown = await tab.waitForSelector(bar, { visible: true, timeout: wait }).then(() => true, () => false);
  return { tab, shown, early: early !== null, after: Date.now() - started };
}

async function violations(tab) {
  seen.violations.push(...(await tab.evaluate(() => window.__violations)));
}

try {
  const visitor = await browser.createBrowserContext();
  const first = await open(visitor, allowed, 8000);
  const tab = first.tab;
  seen.first = { early: first.early, shown: first.shown, afterMs: first.after };
  const animation = (t) => t.$eval("ovation-survey", (h) => getComputedStyle(h.shadowRoot.querySelector("section.bar")).animationName);
  seen.animation = await animation(tab);
  await sleep(500); // its slide-up done
  // Intact under `* {all: unset} div {display: none}`: fixed at the bottom, in sight.
  seen.box = await tab.$eval("ovation-survey", (host) => {
    const r = host.shadowRoot.querySelector("section.bar").getBoundingClientRect();
    const three = host.shadowRoot.querySelector('[data-score="3"]').getBoundingClientRect();
    const hit = host.shadowRoot.elementFromPoint(three.x + three.width / 2, three.y + three.height / 2);
    return { height: r.height, bottom: Math.round(r.bottom), inView: r.bottom <= innerHeight + 1, hitsThree: hit?.dataset?.score === "3" };
  });
  await audit(tab, "score");
  // By keyboard: Tab to the score 3, Enter.
  for (let i = 0; i < 30; i++) {
    await tab.keyboard.press("Tab");
    const at = await tab.evaluate(() => document.querySelector("ovation-survey")?.shadowRoot.activeElement?.dataset?.score);
    if (at === "3") break;
  }
  await tab.keyboard.press("Enter");
  await tab.waitForSelector("ovation-survey >>> #ov-comment", { visible: true });
  await tab.waitForFunction(() => document.querySelector("ovation-survey").shadowRoot.activeElement?.id === "ov-comment");
  await tab.keyboard.type("Checkout was slow");
  await audit(tab, "comment");
  await tab.$$eval("ovation-survey >>> .pick label", (labels) => labels.find((l) => l.textContent.trim() === "4").click());
  await tab.click("ovation-survey >>> button.send");
  await tab.waitForSelector("ovation-survey >>> .thanks", { visible: true });
  await audit(tab, "thanks");
  await tab.waitForFunction(() => window.__events.includes("hide"), { timeout: 10000 });
  seen.events = await tab.evaluate(() => window.__events);
  await violations(tab);
  // A reload within the recurring period shows nothing.
  await tab.reload({ waitUntil: "load" });
  seen.reloadShown = await tab.waitForSelector(bar, { timeout: 4000 }).then(() => true, () => false);
  await violations(tab);

  // Another visitor closes it: remembered on the next page.
  const closer = await browser.createBrowserContext();
  const second = await open(closer, allowed, 8000, true);
  seen.reducedAnimation = await animation(second.tab);
  await second.tab.setViewport({ width: 375, height: 740 });
  await audit(second.tab, "phone");
  await second.tab.click("ovation-survey >>> button.close");
  await second.tab.waitForFunction(() => window.__events.includes("hide"));
  await sleep(300);
  seen.closedEvents = await second.tab.evaluate(() => window.__events);
  await second.tab.reload({ waitUntil: "load" });
  seen.dismissedShown = await second.tab.waitForSelector(bar, { timeout: 4000 }).then(() => true, () => false);
  await violations(second.tab);

  // The same page on an origin the key does not allow: nothing.
  const stranger = await browser.createBrowserContext();
  const third = await open(stranger, elsewhere, 4500);
  seen.elsewhereShown = third.shown;
  seen.elsewhereEvents = await third.tab.evaluate(() => window.__events);
} finally {
  await browser.close();
  host.close();
}
console.log(JSON.stringify({ ...seen, audits }));
