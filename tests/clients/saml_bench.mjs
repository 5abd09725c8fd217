// Times SAML single sign-ons against a running stack (scripts/bench-saml): the owner of a new
// workspace connects the test SAML provider (saml_idp.mjs) by its metadata, then RUNS sign-ins as
// new and as a known user, each timed at the app: the start (POST /sso: the AuthnRequest made,
// deflated, its ID kept with the browser's token) and the answer (POST /sso/{workspace}/saml/acs,
// with the browser's cookie: the XML parsed, its signature verified, its checks, the request used
// up, the assertion's ID kept, the user found or made, the session opened). The provider's own page is not timed. Prints the figures as JSON.
// Usage: node saml_bench.mjs APP IDP_URL WORKSPACE ONE_TIME_PASSWORD RUNS
import { caller, ownerOf, signInPage, summary, timed } from "./bench_owner.mjs";

const [app, idp, workspace, oneTime, runs] = process.argv.slice(2);
const json = caller(app);
const owner = { token: await ownerOf(app, workspace, oneTime) };
const metadata = await (await fetch(`${idp}/metadata`)).text();
await json("PUT", "/v1/sso/saml", owner.token,
  { metadata_xml: metadata, create_users: true, email_domains: [`${workspace}.example`] });

const figures = { start: [], answer_new_user: [], answer_known_user: [] };
for (let run = 0; run < Number(runs); run++) {
  for (const [kind, login] of [["answer_new_user", `new${run}@${workspace}.example`], ["answer_known_user", `owner@${workspace}.example`]]) {
    await fetch(`${idp}/__test/user`, { method: "POST", body: JSON.stringify({ email: login, name_id: login, name: login }) });
    const page = await signInPage(app);
    const start = await timed(`${app}/sso`, page.cookie, new URLSearchParams({ csrf: page.csrf, workspace }).toString());
    if (start.res.status !== 200) throw new Error(`start: ${start.res.status}`);
    figures.start.push(start.ms);
    const flow = start.res.headers.getSetCookie().find((c) => c.includes("ovation_sso=")).split(";")[0];
    const atIdp = start.res.headers.get("refresh").replace(/^0;url=/, "");
    const form = await (await fetch(atIdp)).text();
    const action = form.match(/action="([^"]+)"/)[1];
    const samlResponse = form.match(/name="SAMLResponse" value="([^"]+)"/)[1];
    const answer = await timed(action, flow, new URLSearchParams({ SAMLResponse: samlResponse }).toString());
    if (answer.res.status !== 200 || !answer.res.headers.getSetCookie().some((c) => c.includes("ovation_session="))) {
      throw new Error(`answer: ${answer.res.status}`);
    }
    figures[kind].push(answer.ms);
  }
}
console.log(JSON.stringify(Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, summary(v)]))));
