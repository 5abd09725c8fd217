// Times single sign-ons against a running stack (scripts/bench-sso): the owner of a new
// workspace connects the test provider, then RUNS sign-ins as new and as known users, each timed
// at the app: the start (POST /sso: a flow item written, the authorization URL made) and the
// callback (GET /sso/{workspace}/callback: the code exchanged at the provider, the ID token verified with
// the keys kept in memory, the user found or made, the session opened). The provider's own
// sign-in pages are not timed. Before them, the workspace proves 20 email domains through the DNS
// server on DNS_PORT (dns_server.mjs, the app's OVATION_DNS_SERVERS), each check timed; the
// starts are timed both by the workspace's name and by a work email at its verified domain.
// Prints the figures as JSON.
// Usage: node sso_bench.mjs APP ISSUER CLIENT_ID SECRET WORKSPACE ONE_TIME_PASSWORD RUNS DNS_PORT
import { caller, ownerOf, signInPage, summary, timed } from "./bench_owner.mjs";
import { startDns } from "./dns_server.mjs";
import { providerLeg } from "./oidc_leg.mjs";

const [app, issuer, clientId, secret, workspace, oneTime, runs, dnsPort] = process.argv.slice(2);
const json = caller(app);
const email = `owner@${workspace}.example`;
const owner = { token: await ownerOf(app, workspace, oneTime) };
await json("PUT", "/v1/sso/oidc", owner.token,
  { issuer, client_id: clientId, client_secret: secret, create_users: true, email_domains: [`${workspace}.example`] });

const figures = { domain_check: [], start: [], start_by_email: [], callback_new_user: [], callback_known_user: [] };
// The domains: listed, their records published, each checked (the last is the one sign-ins use).
const dns = await startDns(Number(dnsPort));
for (let n = 19; n >= 0; n--) {
  const domain = n ? `d${n}.${workspace}.example` : `${workspace}.example`;
  const added = await json("POST", "/v1/sso/domains", owner.token, { domain });
  dns.publish(added.record.name, added.record.value);
  const began = process.hrtime.bigint();
  const res = await fetch(`${app}/v1/sso/domains/${domain}/verify`, {
    method: "POST", headers: { authorization: `Bearer ${owner.token}` },
  });
  const checked = await res.json();
  figures.domain_check.push(Number(process.hrtime.bigint() - began) / 1e6);
  if (checked.status !== "verified") throw new Error(`${domain}: ${JSON.stringify(checked)}`);
}
dns.close();

for (let run = 0; run < Number(runs); run++) {
  for (const [kind, login] of [["callback_new_user", `new${run}@${workspace}.example`], ["callback_known_user", email]]) {
    const page = await signInPage(app);
    // New users by their email (found by its domain), the known one by the workspace's name.
    const byEmail = kind === "callback_new_user";
    const form = new URLSearchParams({ csrf: page.csrf, workspace: byEmail ? login : workspace }).toString();
    const start = await timed(`${app}/sso`, page.cookie, form);
    if (start.res.status !== 200) throw new Error(`start: ${start.res.status}`);
    figures[byEmail ? "start_by_email" : "start"].push(start.ms);
    const cookie = start.res.headers.getSetCookie().find((c) => c.includes("ovation_sso=")).split(";")[0];
    const authorization = start.res.headers.get("refresh").replace(/^0;url=/, "");
    const callback = await providerLeg(authorization, login, `${app}/sso/${workspace}/callback`);
    const back = await timed(callback, cookie);
    if (back.res.status !== 200) throw new Error(`callback: ${back.res.status}`);
    figures[kind].push(back.ms);
  }
}
console.log(JSON.stringify(Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, summary(v)]))));
