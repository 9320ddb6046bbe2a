from django.urls import path

from kpcs.governance import views

urlpatterns = [
    path("governance/decisions", views.decision_list, name="governance_decisions"),
    path("governance/decisions/new", views.decision_new, name="governance_decision_new"),
    path("governance/decisions/<int:pk>", views.decision_detail, name="governance_decision"),
    path("governance/decisions/<int:pk>/position", views.decision_position, name="governance_decision_position"),
    path("governance/decisions/<int:pk>/adoption", views.decision_adopt, name="governance_decision_adopt"),
    path("governance/chairs", views.chairs, name="governance_chairs"),
    path("participants/<str:code>", views.participant_detail, name="participant_detail"),
]
