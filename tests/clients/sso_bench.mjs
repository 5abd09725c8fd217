// Times single sign-ons against a running stack (scripts/bench-sso): the owner of a new
// workspace connects the test provider, then RUNS sign-ins as new and as known users, each timed
// at the app: the start (POST /sso: a flow item written, the authorization URL made) and the
// callback (GET /sso/{workspace}/callback: the code exchanged at the provider, the ID token verified with
// the keys kept in memory, the user found or made, the session opened). The provider's own
// sign-in pages are not timed. Prints the figures as JSON.
// Usage: node sso_bench.mjs APP ISSUER CLIENT_ID SECRET WORKSPACE ONE_TIME_PASSWORD RUNS
import { caller, ownerOf, summary } from "./bench_owner.mjs";
import { providerLeg } from "./oidc_leg.mjs";

const [app, issuer, clientId, secret, workspace, oneTime, runs] = process.argv.slice(2);
const json = caller(app);
const email = `owner@${workspace}.example`;
const owner = { token: await ownerOf(app, workspace, oneTime) };
await json("PUT", "/v1/sso/oidc", owner.token,
  { issuer, client_id: clientId, client_secret: secret, create_users: true, email_domains: [`${workspace}.example`] });

// The sign-in page's single sign-on form: its token and cookie (not timed).
async function signInPage() {
  const res = await fetch(`${app}/sign-in`);
  const html = await res.text();
  const cookie = res.headers.getSetCookie().find((c) => c.includes("ovation_form=")).split(";")[0];
  return { cookie, csrf: html.match(/name="csrf" value="([^"]+)"/)[1] };
}

async function timed(url, cookie, form) {
  const started = process.hrtime.bigint();
  const headers = { ...(cookie ? { cookie } : {}), ...(form ? { "content-type": "application/x-www-form-urlencoded" } : {}) };
  const res = await fetch(url, { method: form ? "POST" : "GET", redirect: "manual", headers, body: form });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  await res.text();
  return { res, ms };
}

const figures = { start: [], callback_new_user: [], callback_known_user: [] };
for (let run = 0; run < Number(runs); run++) {
  for (const [kind, login] of [["callback_new_user", `new${run}@${workspace}.example`], ["callback_known_user", email]]) {
    const page = await signInPage();
    const start = await timed(`${app}/sso`, page.cookie, new URLSearchParams({ csrf: page.csrf, workspace }).toString());
    if (start.res.status !== 200) throw new Error(`start: ${start.res.status}`);
    figures.start.push(start.ms);
    const cookie = start.res.headers.getSetCookie().find((c) => c.includes("ovation_sso=")).split(";")[0];
    const authorization = start.res.headers.get("refresh").replace(/^0;url=/, "");
    const callback = await providerLeg(authorization, login, `${app}/sso/${workspace}/callback`);
    const back = await timed(callback, cookie);
    if (back.res.status !== 200) throw new Error(`callback: ${back.res.status}`);
    figures[kind].push(back.ms);
  }
}
console.log(JSON.stringify(Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, summary(v)]))));
