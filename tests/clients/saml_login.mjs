// SAML single sign-on in Chromium: from the sign-in page's "Single sign-on" form with the
// workspace's name or a work email, on to the test SAML identity provider (saml_idp.mjs), whose
// page posts its signed answer back by itself, to the app's overview; then the settings page
// with the SAML provider. axe-core and overflow at 1280 and 375 px (web-steps.mjs).
// Usage: node saml_login.mjs APP_URL TYPED
import { auditor, launch } from "./web-steps.mjs";

const [app, typed] = process.argv.slice(2);
const browser = await launch();
const { audits, audit } = auditor("saml");
const seen = {};
try {
  const page = await (await browser.createBrowserContext()).newPage();
  await page.goto(`${app}/sign-in`, { waitUntil: "load" });
  // By keyboard: the single sign-on field, then its button.
  await page.focus("#sso-workspace");
  await page.keyboard.type(typed);
  page.on("request", (request) => {
    const url = new URL(request.url());
    if (url.searchParams.has("SAMLRequest")) seen.authnRequest = url.origin + url.pathname;
    if (request.method() === "POST" && url.pathname.endsWith("/saml/acs")) seen.posted = url.pathname;
  });
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.keyboard.press("Enter")]);
  // On to the provider (the app's page moves on by itself), whose page posts back by itself,
  // and the app's answer moves on to the overview.
  for (let waited = 0; new URL(page.url()).pathname !== "/overview" && waited < 15000; waited += 100) {
    await new Promise((done) => setTimeout(done, 100));
  }
  await page.waitForSelector("h1");
  seen.landed = new URL(page.url()).pathname;
  await audit(page, "overview-after-saml");
  await page.goto(`${app}/settings/sign-on`, { waitUntil: "load" });
  seen.entityId = await page.$eval("#sp-entity-id", (e) => e.textContent.trim());
  seen.acs = await page.$eval("#acs-url", (e) => e.textContent.trim());
  seen.notice = await page.$eval("p.notice", (e) => e.textContent.trim());
  await audit(page, "settings-saml");
} finally {
  await browser.close();
}
console.log(JSON.stringify({ ...seen, audits }));
