// The identity provider's leg of a single sign-on without a browser: from the authorization URL
// the app sent the browser to, through the test provider's sign-in form (oidc_provider.mjs:
// oidc-provider's development interactions) as `login`, to the redirect back to the app, which it
// does not follow. `providerLeg(authorization, login, callbackPrefix)` answers that URL; run as a
// script it prints {"callback": <that URL>}.
// Usage: node oidc_leg.mjs AUTHORIZATION_URL LOGIN CALLBACK_PREFIX
import { pathToFileURL } from "node:url";

export async function providerLeg(authorization, login, callbackPrefix) {
  const jar = new Map();
  async function go(url, init = {}) {
    const u = new URL(url);
    const cookie = [...jar.values()].filter((c) => u.pathname.startsWith(c.path)).map((c) => `${c.name}=${c.value}`).join("; ");
    const res = await fetch(u, { ...init, redirect: "manual", headers: { ...(init.headers ?? {}), ...(cookie ? { cookie } : {}) } });
    for (const set of res.headers.getSetCookie()) {
      const [pair, ...attrs] = set.split(";").map((s) => s.trim());
      const name = pair.slice(0, pair.indexOf("=")), value = pair.slice(pair.indexOf("=") + 1);
      const path = attrs.find((a) => /^path=/i.test(a))?.slice(5) ?? "/";
      jar.set(`${name}|${path}`, { name, value, path });
    }
    return res;
  }
  const formOf = (html) => ({
    action: html.match(/<form[^>]*action="([^"]+)"/)[1],
    fields: [...html.matchAll(/<input[^>]*name="([^"]+)"[^>]*>/g)].map((m) => ({ name: m[1], value: m[0].match(/value="([^"]*)"/)?.[1] })),
  });
  let url = authorization;
  const trail = [];
  for (let step = 0; step < 12; step++) {
    if (url.startsWith(callbackPrefix)) return url;
    const res = await go(url);
    trail.push(`${res.status} GET ${new URL(url).pathname}`);
    if (res.status >= 300 && res.status < 400) {
      url = new URL(res.headers.get("location"), url).href;
      continue;
    }
    const html = await res.text();
    if (res.status !== 200) throw new Error(`${res.status} at ${url}: ${html.slice(0, 300)}`);
    const form = formOf(html);
    const body = new URLSearchParams();
    for (const f of form.fields) body.set(f.name, f.name === "login" ? login : f.name === "password" ? "any password" : f.value ?? "");
    const posted = await go(new URL(form.action, url), { method: "POST", body, headers: { "content-type": "application/x-www-form-urlencoded" } });
    trail.push(`${posted.status} POST ${form.action}`);
    url = new URL(posted.headers.get("location"), url).href;
  }
  throw new Error(`the provider did not send the browser back: ${trail.join(" → ")}`);
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [authorization, login, callbackPrefix] = process.argv.slice(2);
  console.log(JSON.stringify({ callback: await providerLeg(authorization, login, callbackPrefix) }));
}
