// Single sign-on in Chromium: from the sign-in page's "Single sign-on" form with a work email at
// the workspace's verified domain, through the test provider's sign-in (oidc_login.mjs), back to
// the app's overview; a first-time user made on the way; then the owner, signed in with the
// workspace's name, on the settings page (its verified domain listed);
// then, the workspace requiring single sign-on, a colleague's password refused on the sign-in page;
// then the identity provider deprovisions the first user (SCIM) and their open page signs them out.
// axe-core and overflow at 1280 and 375 px on the pages of the journey (web-steps.mjs).
// Usage: node sso.mjs APP_URL WORKSPACE NEW_USER_LOGIN OWNER_LOGIN PASSWORD_USER PASSWORD SCIM_TOKEN
import { auditor, launch } from "./web-steps.mjs";
import { signInAtProvider } from "./oidc_login.mjs";

const [app, workspace, newcomer, owner, passwordUser, password, scimToken] = process.argv.slice(2);
const browser = await launch();
const { audits, audit } = auditor("sso");
const seen = {};

// Signs in by single sign-on in a fresh browser context, giving `typed` (a work email or the
// workspace's name); the page, the path it lands on, and the provider's login_hint.
async function singleSignOn(login, typed, name) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  await page.goto(`${app}/sign-in`, { waitUntil: "load" });
  if (name) await audit(page, name);
  // By keyboard: the single sign-on field, then its button.
  await page.focus("#sso-workspace");
  await page.keyboard.type(typed);
  // The authorization request the browser is sent on with (PKCE's challenge marks it).
  let hint;
  page.on("request", (request) => {
    const url = new URL(request.url());
    if (url.searchParams.has("code_challenge")) hint = url.searchParams.get("login_hint");
  });
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.keyboard.press("Enter")]);
  await signInAtProvider(page, login);
  // The callback's page moves on by itself (Refresh); wait until it has.
  for (let waited = 0; new URL(page.url()).pathname.startsWith("/sso") && waited < 10000; waited += 100) {
    await new Promise((done) => setTimeout(done, 100));
  }
  await page.waitForSelector("h1");
  return { page, landed: new URL(page.url()).pathname, hint };
}

try {
  const first = await singleSignOn(newcomer, newcomer, "sign-in");
  seen.landed = first.landed;
  seen.loginHint = first.hint;
  seen.heading = await first.page.$eval("h1", (h) => h.textContent.trim());
  await audit(first.page, "overview-after-sso");

  const second = await singleSignOn(owner, workspace);
  seen.ownerLanded = second.landed;
  seen.ownerHint = second.hint;
  await second.page.goto(`${app}/settings/sign-on`, { waitUntil: "load" });
  seen.settingsIssuer = await second.page.$eval("#issuer", (e) => e.value);
  seen.redirectUri = await second.page.$eval("#redirect-uri", (e) => e.textContent.trim());
  seen.domains = await second.page.$$eval("table tbody tr", (rows) => rows.map((r) => r.innerText.replace(/\s+/g, " ").trim()));
  await audit(second.page, "settings");
  // A workspace without single sign-on: said on the sign-in page.
  await second.page.goto(`${app}/sign-in`, { waitUntil: "load" });
  await second.page.type("#sso-workspace", "nosuch");
  await Promise.all([second.page.waitForNavigation({ waitUntil: "load" }), second.page.keyboard.press("Enter")]);
  seen.unknown = await second.page.$eval("#problem", (e) => e.textContent.trim());
  await audit(second.page, "no-such-workspace");
  // Single sign-on required: a colleague's password is refused, and the page says where to go.
  const page = await (await browser.createBrowserContext()).newPage();
  await page.goto(`${app}/sign-in`, { waitUntil: "load" });
  await page.focus("#workspace");
  await page.keyboard.type(workspace);
  await page.keyboard.press("Tab");
  await page.keyboard.type(passwordUser);
  await page.keyboard.press("Tab");
  await page.keyboard.type(password);
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.keyboard.press("Enter")]);
  seen.passwordRefused = await page.$eval("#problem", (e) => e.textContent.trim());
  seen.refusedPath = new URL(page.url()).pathname;
  await audit(page, "sso-required");

  // The identity provider deprovisions the first user (SCIM, as Entra ID does): the page they
  // have open signs them out at its next load.
  const scim = (path, init = {}) =>
    fetch(`${app}/scim/v2${path}`, {
      ...init,
      headers: { authorization: `Bearer ${scimToken}`, "content-type": "application/scim+json" },
    });
  const filter = encodeURIComponent(`userName eq "${newcomer}"`);
  const found = await (await scim(`/Users?filter=${filter}`)).json();
  const off = await scim(`/Users/${found.Resources[0].id}`, {
    method: "PATCH",
    body: JSON.stringify({
      schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
      Operations: [{ op: "Replace", path: "active", value: "False" }],
    }),
  });
  seen.deprovisioned = off.status;
  await first.page.reload({ waitUntil: "load" });
  seen.signedOut = (await first.page.$("#password")) !== null;
  await audit(first.page, "after-deprovisioning");
} finally {
  await browser.close();
}
console.log(JSON.stringify({ ...seen, audits }));
