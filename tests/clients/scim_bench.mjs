// Times SCIM provisioning against a running stack (scripts/bench-scim), as an identity provider
// drives it: the owner of a new workspace makes the SCIM token, then for RUNS people the lookup by
// userName, the creation, a rename, the deactivation (sessions ended) and the deletion, each timed
// at the client on loopback; and a page of 100 users listed. Then the groups (teams): 20 made
// with 5 members each, found by displayName, members added and removed as Okta and Entra ID
// send them, a group replaced, all listed. Prints the figures as JSON.
// Usage: node scim_bench.mjs APP WORKSPACE ONE_TIME_PASSWORD RUNS
import { caller, ownerOf, summary } from "./bench_owner.mjs";

const [app, workspace, oneTime, runs] = process.argv.slice(2);
const json = caller(app);
const { token } = await json("POST", "/v1/scim/token", await ownerOf(app, workspace, oneTime));

async function timed(method, path, body, expected) {
  const started = process.hrtime.bigint();
  const res = await fetch(`${app}/scim/v2${path}`, {
    method, headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (res.status !== expected) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return { ms, answer: text ? JSON.parse(text) : null };
}
const patch = (operations) => ({ schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: operations });

const figures = { find: [], create: [], rename: [], deactivate: [], delete: [], list_100: [] };
const kept = [];
for (let run = 0; run < Number(runs); run++) {
  const userName = `person${run}@${workspace}.example`;
  const find = await timed("GET", `/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}`, null, 200);
  figures.find.push(find.ms);
  const made = await timed("POST", "/Users", {
    schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName, active: true,
    name: { givenName: "Person", familyName: `Number ${run}` }, emails: [{ value: userName, primary: true }],
  }, 201);
  figures.create.push(made.ms);
  const id = made.answer.id;
  figures.rename.push((await timed("PATCH", `/Users/${id}`, patch([{ op: "replace", path: "name.familyName", value: `N${run}` }]), 200)).ms);
  figures.deactivate.push((await timed("PATCH", `/Users/${id}`, patch([{ op: "Replace", path: "active", value: "False" }]), 200)).ms);
  if (run % 2 === 0) figures.delete.push((await timed("DELETE", `/Users/${id}`, null, 204)).ms);
  else kept.push(id);
}
for (let run = 0; run < 20; run++) figures.list_100.push((await timed("GET", "/Users?count=100", null, 200)).ms);

// Groups: the kept users (100 with RUNS=200) in 20 teams of 5; each found, changed and replaced.
const groups = { group_create: [], group_find: [], group_add_okta: [], group_remove_entra: [], group_put: [], groups_list: [] };
const member = (id) => ({ value: id });
for (let g = 0; g < 20; g++) {
  const five = kept.slice((g * 5) % kept.length, (g * 5) % kept.length + 5);
  const displayName = `Team ${g}`;
  const made = await timed("POST", "/Groups", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName, members: five.map(member) }, 201);
  groups.group_create.push(made.ms);
  const id = made.answer.id;
  groups.group_find.push((await timed("GET", `/Groups?filter=${encodeURIComponent(`displayName eq "${displayName}"`)}&excludedAttributes=members`, null, 200)).ms);
  const other = kept[(g * 5 + 7) % kept.length];
  groups.group_add_okta.push((await timed("PATCH", `/Groups/${id}`, patch([{ op: "add", path: "members", value: [member(other)] }]), 200)).ms);
  groups.group_remove_entra.push((await timed("PATCH", `/Groups/${id}`, patch([{ op: "Remove", path: "members", value: [member(other)] }]), 200)).ms);
  groups.group_put.push((await timed("PUT", `/Groups/${id}`, { schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName, members: five.map(member) }, 200)).ms);
}
for (let run = 0; run < 20; run++) groups.groups_list.push((await timed("GET", "/Groups", null, 200)).ms);
Object.assign(figures, groups);
console.log(JSON.stringify({ users_kept: kept.length, ...Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, summary(v)])) }));
