from django.urls import path

from kpcs.monitoring import review_views, views

urlpatterns = [
    path("findings/", views.finding_list, name="finding_list"),
    path("findings/scans/", views.scan_list, name="scan_list"),
    path("findings/scans/start", views.scan_start, name="scan_start"),
    path("findings/<int:pk>", views.finding_detail, name="finding_detail"),
    path("findings/<int:pk>/clarification", views.request_clarification, name="finding_clarification"),
    path("findings/<int:pk>/answer", views.answer, name="finding_answer"),
    path("findings/<int:pk>/close", views.close, name="finding_close"),
    path("findings/<int:pk>/escalate", views.escalate, name="finding_escalate"),
    path("findings/<int:pk>/review-mission", review_views.finding_review_mission, name="finding_review_mission"),
    path("reviews/", review_views.review_list, name="review_list"),
    path("reviews/new", review_views.review_create, name="review_create"),
    path("reviews/published", review_views.review_published, name="review_published"),
    path("reviews/<int:pk>", review_views.review_detail, name="review_detail"),
    path("reviews/<int:pk>/team", review_views.review_team, name="review_team"),
    path("reviews/<int:pk>/visit", review_views.review_visit, name="review_visit"),
    path("reviews/<int:pk>/report", review_views.review_report, name="review_report"),
    path("reviews/<int:pk>/publish", review_views.review_publish, name="review_publish"),
    path("reviews/<int:pk>/close", review_views.review_close, name="review_close"),
    path("reviews/<int:pk>/comments", review_views.review_comment, name="review_comment"),
    path("reviews/<int:pk>/recommendations", review_views.recommendation_add, name="recommendation_add"),
    path("reviews/<int:pk>/recommendations/<int:rid>/follow-up", review_views.recommendation_follow_up,
         name="recommendation_follow_up"),
    path("reviews/<int:pk>/recommendations/<int:rid>/close", review_views.recommendation_close,
         name="recommendation_close"),
]
