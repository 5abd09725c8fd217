// Delighted's official Node client (npm `delighted`), unchanged, against Ovation: only the host,
// port and scheme differ. Usage: node delighted_node.cjs <base url> <api key>; prints what it saw
// as JSON.
const base = new URL(process.argv[2]);
const delighted = require("delighted")(process.argv[3], {
  host: base.hostname,
  port: Number(base.port),
  scheme: base.protocol.replace(":", ""),
});

async function main() {
  const seen = {};
  const person = await delighted.person.create({
    email: "ada@example.com", name: "Ada", properties: { plan: "pro" }, delay: 60,
  });
  seen.person_email = person.email;
  seen.survey_scheduled = person.survey_scheduled_at === person.next_survey_scheduled_at
    && typeof person.survey_scheduled_at === "number";
  await delighted.person.create({ email: "bob@example.com", send: false });
  await delighted.person.create({ phone_number: "+14155550100", send: false });
  const listed = [];
  await delighted.person.list({ per_page: 2 }).autoPagingEach((p) => { listed.push(p.email || p.phone_number); });
  seen.people_listed = listed.sort();
  const response = await delighted.surveyResponse.create({ person: person.id, score: 10, comment: "Love it" });
  seen.response_score = response.score;
  const all = await delighted.surveyResponse.all({ expand: ["person"], per_page: 10 });
  seen.listed_person_email = all[0].person.email;
  const one = await delighted.surveyResponse.retrieve(response.id, { expand: ["person"] });
  one.tags = ["vip"];
  one.notes = ["Called to thank"];
  const saved = await one.save();
  seen.saved_tags = saved.tags;
  seen.saved_notes = saved.notes.map((n) => n.text);
  seen.pending_deleted = await delighted.surveyRequest.deletePending({ person_email: "ada@example.com" });
  seen.deleted = await delighted.person.delete({ email: "bob@example.com" });
  await delighted.unsubscribe.create({ person_email: "carl@example.com" });
  seen.unsubscribed = (await delighted.unsubscribe.all()).map((u) => u.email);
  seen.bounced = (await delighted.bounce.all({ per_page: 5 })).map((b) => b.email);
  seen.autopilot_frequency = (await delighted.autopilotConfiguration.retrieve("email")).frequency;
  const members = delighted.autopilotMembership.forEmail();
  const member = await members.create({ person_email: "dana@example.com", properties: { plan: "pro" } });
  seen.member_email = member.person.email;
  const listedMembers = [];
  await members.list().autoPagingEach((m) => { listedMembers.push(m.person.email); });
  seen.members = listedMembers;
  seen.left = (await members.delete({ person_email: "dana@example.com" })).person.email;
  const metrics = await delighted.metrics.retrieve({ since: 0 });
  seen.metrics = [metrics.nps, metrics.response_count];
  try {
    await delighted.person.create({ email: "not-an-email" });
  } catch (e) {
    seen.validation_error = e.type;
  }
  const bad = require("delighted")("ovk_nope", { host: base.hostname, port: Number(base.port), scheme: "http" });
  try {
    await bad.person.create({ email: "x@example.com" });
  } catch (e) {
    seen.auth_error = e.type;
  }
  console.log(JSON.stringify(seen));
}

main().catch((e) => { console.error(e); process.exit(1); });
