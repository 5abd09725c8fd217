// An OpenID Connect identity provider for the sign-in tests: panva's oidc-provider (OpenID
// Certified) on 127.0.0.1, a free port, issuer http://127.0.0.1:<port>, its development
// interactions as the sign-in page (any password; the login name is the account).
// Environment: OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URI (the one client: code flow,
// PKCE S256 required, client_secret_basic or client_secret_post at /token); OIDC_ACCOUNTS, JSON
// {"<login>": {claims…}} (sub = the login; an unknown login gets the sign-in page again); OIDC_CONSENT=prompt
// shows the consent page (by default the client's grant of openid email profile is made on sign-in,
// so no consent page). Scopes openid email profile; email, email_verified and name go in the ID
// token itself.
// Prints one line, {"issuer": "..."}, once listening; runs until stdin (a pipe) closes, or SIGTERM.
// Test controls on the same server:
//   POST /__test/tamper {"mode": m}: until {"mode": null}, the ID token in each /token response is
//     replaced by a forged one: alg_none, unsigned_hs256 (HS256 keyed with the client secret),
//     wrong_audience, expired, wrong_nonce, unverified_email, wrong_issuer (each re-signed with the
//     current real key), unknown_key (signed by a key whose kid is not in the JWKS).
//   POST /__test/rotate: a new RS256 key with a new kid; /jwks lists it too, ID tokens are signed
//     with it from then on. Answers {"kid": "..."}.
// Both answer JSON; GET /__test/state shows the mode and the kids.
import { fstatSync } from "node:fs";
import { createServer } from "node:http";
import { randomBytes, randomUUID } from "node:crypto";

// The library's notices go to stdout (console.info); stdout is for the one JSON line.
console.info = console.log = (...a) => console.error(...a);

const { default: Provider } = await import("oidc-provider");
const { SignJWT, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair } = await import("jose");

const env = (name) => {
  const v = process.env[name];
  if (!v) { console.error(`oidc_provider.mjs: ${name} is required`); process.exit(2); }
  return v;
};
const clientId = env("OIDC_CLIENT_ID");
const clientSecret = env("OIDC_CLIENT_SECRET");
const redirectUri = env("OIDC_REDIRECT_URI");
const accounts = JSON.parse(env("OIDC_ACCOUNTS"));
const consentPrompt = process.env.OIDC_CONSENT === "prompt";

async function newKey() {
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: randomUUID(), alg: "RS256", use: "sig" };
  return { jwk, privateKey };
}
const publicJwk = ({ d, p, q, dp, dq, qi, ...pub }) => pub;

// keys[0] is the provider's own; later ones come from /__test/rotate, the last signs.
const keys = [await newKey()];
let mode = null;

let handler = (req, res) => { res.statusCode = 503; res.end(); };
const server = createServer((req, res) => handler(req, res));
await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
const issuer = `http://127.0.0.1:${server.address().port}`;

const scopeClaims = ["openid", "email", "profile"];
const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    response_types: ["code"],
    grant_types: ["authorization_code"],
    // client_secret_post is accepted too: the provider takes either form for a secret client.
    token_endpoint_auth_method: "client_secret_basic",
    id_token_signed_response_alg: "RS256",
  }],
  jwks: { keys: [keys[0].jwk] },
  scopes: scopeClaims,
  claims: { openid: ["sub"], email: ["email", "email_verified", "xms_edov"], profile: ["name"] },
  conformIdTokenClaims: false,
  pkce: { methods: ["S256"], required: () => true },
  responseTypes: ["code"],
  features: { devInteractions: { enabled: true } },
  cookies: {
    keys: [randomBytes(32).toString("hex")],
    long: { httpOnly: true, sameSite: "lax" },
    short: { httpOnly: true, sameSite: "lax" },
  },
  async findAccount(ctx, sub) {
    if (!Object.hasOwn(accounts, sub)) return undefined;
    return { accountId: sub, claims: async () => ({ ...accounts[sub], sub }) };
  },
  // Without OIDC_CONSENT=prompt the client is trusted: its grant is made without a consent page.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    if (consentPrompt) return undefined;
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope(scopeClaims.join(" "));
    await grant.save();
    return grant;
  },
  renderError(ctx, out) {
    ctx.type = "json";
    ctx.body = out;
  },
});

async function sign(claims, key, alg = "RS256") {
  const header = { alg, typ: "JWT" };
  if (alg !== "HS256") header.kid = key.jwk.kid;
  return new SignJWT(claims).setProtectedHeader(header).sign(alg === "HS256" ? key : key.privateKey);
}

async function forge(idToken) {
  const claims = decodeJwt(idToken);
  const current = keys.at(-1);
  const now = Math.floor(Date.now() / 1000);
  switch (mode) {
    case null: return sign(claims, current);
    case "alg_none": {
      const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
      return `${b64({ alg: "none", typ: "JWT" })}.${b64(claims)}.`;
    }
    case "unsigned_hs256": return sign(claims, new TextEncoder().encode(clientSecret), "HS256");
    case "wrong_audience": return sign({ ...claims, aud: "someone-else" }, current);
    case "expired": return sign({ ...claims, iat: now - 3600 - 300, exp: now - 3600 }, current);
    case "wrong_nonce": return sign({ ...claims, nonce: `forged-${randomUUID()}` }, current);
    case "unverified_email": return sign({ ...claims, email_verified: false }, current);
    case "wrong_issuer": return sign({ ...claims, iss: "http://evil.example" }, current);
    case "unknown_key": return sign(claims, await newKey());
    default: throw new Error(`unknown tamper mode ${mode}`);
  }
}
const modes = [null, "alg_none", "unsigned_hs256", "wrong_audience", "expired", "wrong_nonce",
  "unverified_email", "wrong_issuer", "unknown_key"];

async function readJson(req) {
  let text = "";
  for await (const chunk of req) text += chunk;
  return text ? JSON.parse(text) : {};
}

provider.use(async (ctx, next) => {
  if (ctx.path.startsWith("/__test/")) {
    ctx.type = "json";
    if (ctx.method === "POST" && ctx.path === "/__test/tamper") {
      const wanted = (await readJson(ctx.req)).mode ?? null;
      if (!modes.includes(wanted)) ctx.throw(400, `mode must be one of ${JSON.stringify(modes)}`);
      mode = wanted;
      ctx.body = { mode };
    } else if (ctx.method === "POST" && ctx.path === "/__test/rotate") {
      keys.push(await newKey());
      ctx.body = { kid: keys.at(-1).jwk.kid };
    } else if (ctx.method === "GET" && ctx.path === "/__test/state") {
      ctx.body = { mode, kids: keys.map((k) => k.jwk.kid), signing: keys.at(-1).jwk.kid };
    } else {
      ctx.throw(404);
    }
    return;
  }
  // An unknown login name: the sign-in page again (the provider would fail the request otherwise).
  if (ctx.method === "POST" && /^\/interaction\/[^/]+$/.test(ctx.path) && ctx.is("application/x-www-form-urlencoded")) {
    let text = "";
    for await (const chunk of ctx.req) text += chunk;
    ctx.req.body = text; // the provider's body parser takes an already-read body
    const form = new URLSearchParams(text);
    if (form.get("prompt") === "login" && !Object.hasOwn(accounts, form.get("login") ?? "")) {
      ctx.redirect(ctx.path);
      ctx.status = 303;
      return;
    }
  }
  await next();
  const route = ctx.oidc?.route;
  if (route === "token" && ctx.status === 200 && ctx.body?.id_token && (mode || keys.length > 1)) {
    ctx.body = { ...ctx.body, id_token: await forge(ctx.body.id_token) };
  } else if (route === "jwks" && ctx.status === 200 && keys.length > 1) {
    ctx.body = { keys: [...ctx.body.keys, ...keys.slice(1).map((k) => publicJwk(k.jwk))] };
  }
});

handler = provider.callback();
process.stdout.write(`${JSON.stringify({ issuer })}\n`);

const stop = () => { server.close(); process.exit(0); };
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
// Stdin ends the server when it is a pipe (the test holds it open); /dev/null or a terminal does not.
const stdin = fstatSync(0);
if (stdin.isFIFO() || stdin.isSocket()) {
  process.stdin.on("end", stop).on("close", stop).resume();
}
