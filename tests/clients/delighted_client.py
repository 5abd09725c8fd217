"""Delighted's official Python client, unchanged, against Ovation: only the base URL differs.
Usage: python delighted_client.py <base url> <api key>; prints what it saw as JSON."""
import json
import sys
import warnings

warnings.simplefilter("ignore", FutureWarning)
import delighted  # noqa: E402

delighted.api_key = sys.argv[2]
delighted.api_base_url = sys.argv[1] + "/v1/"

seen = {}
person = delighted.Person.create(
    email="ada@example.com", name="Ada", properties={"plan": "pro", "locale": "en"}, delay=60
)
seen["person_id"] = person.id
seen["person_email"] = person["email"]
delighted.Person.create(email="bob@example.com", send=False)
delighted.Person.create(phone_number="+14155550100", send=False)
seen["people_listed"] = sorted(p["email"] or p["phone_number"] for p in delighted.Person.list(per_page=2).auto_paging_iter())
response = delighted.SurveyResponse.create(person=person.id, score=10, comment="Love it")
seen["response_score"] = response.score
listed = delighted.SurveyResponse.all(expand=["person"], per_page=10)
seen["listed_comments"] = [r.comment for r in listed]
seen["listed_person_email"] = listed[0].person["email"]
one = delighted.SurveyResponse.retrieve(response.id, expand=["person"])
one.tags = ["vip"]
one.notes = ["Called to thank"]
saved = one.save()
seen["saved_tags"] = saved.tags
seen["saved_notes"] = [n["text"] for n in saved.notes]
seen["pending_deleted"] = delighted.SurveyRequest.delete_pending(person_email="ada@example.com")
seen["deleted"] = delighted.Person.delete(email="bob@example.com")
delighted.Unsubscribe.create(person_email="carl@example.com")
seen["unsubscribed"] = [u["email"] for u in delighted.Unsubscribe.all()]
seen["bounced"] = [b["email"] for b in delighted.Bounce.all(per_page=5)]
seen["autopilot_frequency"] = delighted.AutopilotConfiguration.retrieve("email")["frequency"]
member = delighted.AutopilotMembership.forEmail().create(person_email="dana@example.com", properties={"plan": "pro"})
seen["member_email"] = member["person"]["email"]
seen["members"] = [m["person"]["email"] for m in delighted.AutopilotMembership.forEmail().list().auto_paging_iter()]
seen["left"] = delighted.AutopilotMembership.forEmail().delete(person_email="dana@example.com")["person"]["email"]
try:
    delighted.Person.create(email="not-an-email")
except delighted.errors.ResourceValidationError as e:
    seen["validation_error"] = e.response.status_code
bad = delighted.Client(api_key="ovk_nope", api_base_url=sys.argv[1] + "/v1/")
try:
    delighted.Person.create(email="x@example.com", client=bad)
except delighted.errors.AuthenticationError as e:
    seen["auth_error"] = e.response.status_code
print(json.dumps(seen))
