"""The reviewed participant's comments on a review report (MON-04) and who runs reviews now that the governance
roles exist: the Chair manages reviews, a delegate reads its own participant's reviews and comments on the report
while it is with the participant, an observer reads what the public reads. Services, API and pages."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from kpcs.audit.models import AuditEntry
from kpcs.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kpcs.monitoring import rules, services
from kpcs.monitoring.models import Review, ReviewComment
from kpcs.registry.services import Actor, Grant
from tests.conftest import assert_error
from tests.monitoring.test_review_services import PRIVATE, PUBLIC, RU_STATS, WGS, days_ago, planned_visit
from tests.monitoring.test_views import signed_in

pytestmark = pytest.mark.django_db
CHAIR = Actor("chair@test", grants=(Grant("kp_chair", None, None),))
RU_DELEGATE = Actor("delegate@ru.test", grants=(Grant("delegate", "RU", None),))
ZA_DELEGATE = Actor("delegate@za.test", grants=(Grant("delegate", "ZA", None),))
OBSERVER = Actor("observer@test", grants=(Grant("observer", None, None),))
COMMENT = "The scales were ordered in May; the border post has used them since 1 September."


def submitted(actor: Actor = WGS, participant: str = "RU") -> Review:
    r = planned_visit(actor, participant)
    services.record_visit(actor, r.pk)
    return services.submit_report(actor, r.pk, text=PRIVATE)


# --- services ------------------------------------------------------------------------------------------

def test_the_chair_runs_a_review_and_the_delegate_comments_before_publication(kp: Any) -> None:
    r = submitted(CHAIR)  # the Chair organises the visit and appoints its team (MON-03)
    assert services.get_review(RU_DELEGATE, r.pk).report_text == PRIVATE  # the report reaches the participant
    first = services.comment_on_report(RU_DELEGATE, r.pk, text=f"  {COMMENT}  ")
    second = services.comment_on_report(RU_DELEGATE, r.pk, text="A correction: since 2 September.")
    assert (first.text, first.participant_id, first.author) == (COMMENT, "RU", "delegate@ru.test")
    services.publish_report(CHAIR, r.pk, public_summary=PUBLIC)
    with pytest.raises(Conflict) as closed:
        services.comment_on_report(RU_DELEGATE, r.pk, text="Too late.")
    assert (closed.value.code, closed.value.rule) == ("comments_closed", "MON-04")
    data = services.review_dict(services.get_review(CHAIR, r.pk), detail=True)
    assert [c["id"] for c in data["comments"]] == [first.pk, second.pk]
    assert data["comments"][0]["author"] == "delegate@ru.test"
    log = list(AuditEntry.objects.filter(object_type="review", object_id=str(r.pk), action="review.commented")
               .values_list("actor", "participant"))
    assert log == [("delegate@ru.test", "RU")] * 2
    assert not AuditEntry.objects.filter(payload__contains="border post").exists()  # text as a hash only
    assert ReviewComment.objects.count() == 2


def test_no_comment_before_the_report_nor_on_another_participants_review(kp: Any) -> None:
    r = planned_visit()
    with pytest.raises(Conflict) as early:
        services.comment_on_report(RU_DELEGATE, r.pk, text=COMMENT)
    assert (early.value.code, early.value.rule) == ("no_report", "MON-04")
    za = submitted(participant="ZA")
    with pytest.raises(NotFound):  # as if missing: a delegate does not learn of another's review
        services.comment_on_report(RU_DELEGATE, za.pk, text=COMMENT)
    with pytest.raises(NotFound):
        services.get_review(RU_DELEGATE, za.pk)
    assert [x.pk for x in services.search_reviews(RU_DELEGATE)] == [r.pk]
    assert ReviewComment.objects.count() == 0 and not AuditEntry.objects.filter(action="review.commented").exists()


def test_only_the_delegate_comments_and_never_blank(kp: Any) -> None:
    r = submitted()
    for actor in (RU_STATS, WGS, CHAIR, Actor("analyst@test", grants=(Grant("kp_analyst", None, None),))):
        with pytest.raises(PermissionDenied):  # they read the review; the participant's voice is its delegate
            services.comment_on_report(actor, r.pk, text=COMMENT)
    with pytest.raises(ValidationFailed) as blank:
        services.comment_on_report(RU_DELEGATE, r.pk, text="   ")
    assert blank.value.code == "text_required"
    with pytest.raises(ValidationFailed) as long:
        services.comment_on_report(RU_DELEGATE, r.pk, text="x" * (rules.COMMENT_MAX_LENGTH + 1))
    assert long.value.code == "text_too_long"
    assert ReviewComment.objects.count() == 0


def test_observers_and_delegates_manage_nothing(kp: Any) -> None:
    r = planned_visit(CHAIR)
    with pytest.raises(PermissionDenied):
        services.search_reviews(OBSERVER)  # observers read the published summaries, as the public
    with pytest.raises(PermissionDenied):
        services.record_visit(RU_DELEGATE, r.pk)
    with pytest.raises(PermissionDenied):
        services.create_review(RU_DELEGATE, kind="visit", participant="RU", mandate="m", starts_on=days_ago(3),
                               ends_on=days_ago(1))
    assert services.record_visit(CHAIR, r.pk).status == "visited"


# --- API -------------------------------------------------------------------------------------------------

def test_comments_over_the_api(kp: Any, api_as: Any, make_user: Any) -> None:
    r = submitted()
    make_user("delegate@ru.api.kpcs", "delegate", "RU")
    make_user("delegate@za.api.kpcs", "delegate", "ZA")
    make_user("chair@api.kpcs", "kp_chair")
    delegate, other, chair = api_as("delegate@ru.api.kpcs"), api_as("delegate@za.api.kpcs"), api_as("chair@api.kpcs")
    url = f"/reviews/{r.pk}"
    made = delegate.post(f"{url}/comments", {"text": COMMENT})
    assert made.status_code == 201, made.content
    body = made.json()
    assert (body["review"], body["participant"], body["text"]) == (r.pk, "RU", COMMENT)
    assert body["author"].startswith("delegate@ru.api.kpcs")
    assert [c["text"] for c in chair.get(url).json()["comments"]] == [COMMENT]
    assert [c["text"] for c in delegate.get(url).json()["comments"]] == [COMMENT]
    assert_error(other.post(f"{url}/comments", {"text": COMMENT}), 404, "not_found")
    assert_error(other.get(url), 404, "not_found")
    assert_error(chair.post(f"{url}/comments", {"text": COMMENT}), 403, "forbidden")
    assert_error(delegate.post(f"{url}/comments", {"text": " "}), 422, "text_required")
    assert_error(delegate.post(f"{url}/comments", {"text": "x" * (rules.COMMENT_MAX_LENGTH + 1)}), 422)
    assert_error(delegate.post("/reviews/999999/comments", {"text": COMMENT}), 404, "not_found")
    assert chair.post(f"{url}/publication", {"public_summary": PUBLIC}).status_code == 200
    assert_error(delegate.post(f"{url}/comments", {"text": "Too late."}), 409, "comments_closed", "MON-04")
    public = api_as(None).get("/reviews/published").content.decode()
    assert PUBLIC in public and COMMENT not in public  # the comments are posted on the restricted section only
    assert ReviewComment.objects.count() == 1


# --- pages -----------------------------------------------------------------------------------------------

def test_the_delegate_comments_on_the_review_page(kp: Any, make_user: Any) -> None:
    r = submitted()
    delegate = signed_in(make_user, "delegate@ru.page.kpcs", "delegate", "RU")
    assert 'href="/reviews/"' in delegate.get("/").content.decode()  # the menu offers the reviews
    page = delegate.get(f"/reviews/{r.pk}").content.decode()
    assert PRIVATE in page and "Comment on the report" in page and "Add a member" not in page
    blank = delegate.post(f"/reviews/{r.pk}/comments", {"text": ""})
    assert blank.status_code == 422 and ReviewComment.objects.count() == 0
    done = delegate.post(f"/reviews/{r.pk}/comments", {"text": COMMENT}, follow=True)
    text = done.content.decode()
    assert "Your comment was recorded" in text and COMMENT in text
    services.publish_report(WGS, r.pk, public_summary=PUBLIC)
    page = delegate.get(f"/reviews/{r.pk}").content.decode()
    assert "comments on it are closed" in page and "Send the comment" not in page
    late = delegate.post(f"/reviews/{r.pk}/comments", {"text": "Too late."})
    late_page = late.content.decode()
    assert late.status_code == 409 and "comments on it are closed (MON-04)" in late_page
    assert 'class="field has-error"' in late_page  # the refusal beside the comment
    french = delegate.get(f"/reviews/{r.pk}", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Commentaires du participant" in french and "les commentaires sont clos" in french


def test_who_comments_and_manages_through_the_pages(kp: Any, make_user: Any) -> None:
    r = submitted()
    za = submitted(participant="ZA")
    other = signed_in(make_user, "delegate@za.page.kpcs", "delegate", "ZA")
    assert other.get(f"/reviews/{r.pk}").status_code == 404
    assert other.post(f"/reviews/{r.pk}/comments", {"text": COMMENT}).status_code == 404
    assert other.post(f"/reviews/{za.pk}/visit", {}).status_code == 403
    stats = signed_in(make_user, "stats@ru.page.kpcs", "statistics_officer", "RU")
    assert "Comment on the report" not in stats.get(f"/reviews/{r.pk}").content.decode()
    assert stats.post(f"/reviews/{r.pk}/comments", {"text": COMMENT}).status_code == 403
    observer = signed_in(make_user, "observer@page.kpcs", "observer")
    assert observer.get("/reviews/").status_code == 403 and observer.get(f"/reviews/{r.pk}").status_code == 403
    assert observer.get("/reviews/published").status_code == 200
    chair = signed_in(make_user, "chair@page.kpcs", "kp_chair")
    assert "Open a review" in chair.get("/reviews/").content.decode()
    made = chair.post("/reviews/new", {"kind": "mission", "participant": "CF", "mandate": "A review mission.",
                                       "starts_on": days_ago(9).isoformat(), "ends_on": days_ago(5).isoformat(),
                                       "decision_reference": "AD 2026/1"})
    assert made.status_code == 302
    assert chair.post(f"/reviews/{r.pk}/publish", {"public_summary": PUBLIC}).status_code == 302
    assert ReviewComment.objects.count() == 0
    assert Client().get(f"/reviews/{r.pk}/comments").status_code == 302  # signed out: to the sign-in page
