// What the benchmarks driven from Node share: JSON calls to the app, the owner of a workspace
// made by `ovation tenant create` signed in (their one-time password changed), the sign-in page's
// single sign-on form, timed requests.
export function caller(app) {
  return async (method, path, token, body) => {
    const res = await fetch(`${app}${path}`, {
      method, headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const answer = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(answer)}`);
    return answer;
  };
}

// The owner's session token.
export async function ownerOf(app, workspace, oneTime) {
  const json = caller(app);
  const email = `owner@${workspace}.example`;
  const first = await json("POST", "/v1/auth/sign_in", null, { tenant: workspace, email, password: oneTime });
  const owner = await json("POST", "/v1/me/password", first.token,
    { current_password: oneTime, new_password: "a benchmark's password 1" });
  return owner.token;
}

// p50, p95 and the largest of some times (ms), and the first.
export function summary(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { n: sorted.length, first_ms: +values[0].toFixed(2), p50_ms: +at(0.5).toFixed(2), p95_ms: +at(0.95).toFixed(2), max_ms: +sorted.at(-1).toFixed(2) };
}

// The sign-in page's single sign-on form: its token and cookie (not timed).
export async function signInPage(app) {
  const res = await fetch(`${app}/sign-in`);
  const html = await res.text();
  const cookie = res.headers.getSetCookie().find((c) => c.includes("ovation_form=")).split(";")[0];
  return { cookie, csrf: html.match(/name="csrf" value="([^"]+)"/)[1] };
}

// One request to the app, timed (ms): a GET, or a POST of `form`.
export async function timed(url, cookie, form) {
  const started = process.hrtime.bigint();
  const headers = { ...(cookie ? { cookie } : {}), ...(form ? { "content-type": "application/x-www-form-urlencoded" } : {}) };
  const res = await fetch(url, { method: form ? "POST" : "GET", redirect: "manual", headers, body: form });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  await res.text();
  return { res, ms };
}
