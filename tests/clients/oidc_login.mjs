// Signing in at the test identity provider (oidc_provider.mjs, oidc-provider's development
// interactions) in a puppeteer page: its sign-in page is a form with a hidden input
// prompt=login, inputs `login` and `password` (any password) and a submit button; its consent page
// (only with OIDC_CONSENT=prompt) a form with prompt=consent and a submit button. Both post to
// /interaction/<uid>.
// `signInAtProvider(page, login)`, with the page on the provider's sign-in page (or on its way
// there), signs in as `login`, passes consent if shown, and returns the URL it lands on once it has
// left the provider (the client's redirect URI, or wherever that sends it). An unknown login gets
// the sign-in page again: that throws.

const promptOf = (page) => page.$eval("form input[name=prompt]", (e) => e.value).catch(() => null);

export async function signInAtProvider(page, login, { timeout = 15000 } = {}) {
  await page.waitForSelector("form input[name=prompt]", { timeout });
  const provider = new URL(page.url()).origin;
  for (let step = 0; step < 4; step++) {
    const prompt = await promptOf(page);
    if (prompt === "login") {
      if (step > 0) throw new Error(`the provider did not accept the login ${JSON.stringify(login)}`);
      // The provider fills in the request's login_hint: typed over.
      await page.$eval("form input[name=login]", (input) => (input.value = ""));
      await page.type("form input[name=login]", login);
      await page.type("form input[name=password]", "any password");
    } else if (prompt !== "consent") {
      throw new Error(`not a sign-in or consent page: ${page.url()}`);
    }
    await Promise.all([page.waitForNavigation({ waitUntil: "load", timeout }), page.click("form button[type=submit]")]);
    if (new URL(page.url()).origin !== provider) return page.url();
  }
  throw new Error(`still at the provider: ${page.url()}`);
}
