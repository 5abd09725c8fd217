// What the benchmarks driven from Node share: JSON calls to the app, and the owner of a workspace
// made by `ovation tenant create` signed in (their one-time password changed).
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
