from django.urls import path

from kpcs.governance import views

urlpatterns = [
    path("governance/decisions", views.decision_list, name="governance_decisions"),
    path("governance/decisions/new", views.decision_new, name="governance_decision_new"),
    path("governance/decisions/<int:pk>", views.decision_detail, name="governance_decision"),
    path("governance/decisions/<int:pk>/position", views.decision_position, name="governance_decision_position"),
    path("governance/decisions/<int:pk>/adoption", views.decision_adopt, name="governance_decision_adopt"),
    path("governance/chairs", views.chairs, name="governance_chairs"),
    path("governance/meetings", views.meetings, name="governance_meetings"),
    path("governance/working-groups", views.working_groups, name="governance_working_groups"),
    path("governance/working-groups/<slug:code>", views.working_group, name="governance_working_group"),
    path("governance/working-groups/<slug:code>/members", views.working_group_member_add,
         name="governance_working_group_member_add"),
    path("governance/working-groups/<slug:code>/members/<int:pk>/end", views.working_group_member_end,
         name="governance_working_group_member_end"),
    path("governance/applications", views.application_list, name="governance_applications"),
    path("governance/applications/<int:pk>", views.application_detail, name="governance_application"),
    path("governance/applications/<int:pk>/circulation", views.application_circulate,
         name="governance_application_circulate"),
    path("governance/applications/<int:pk>/recommendation", views.application_recommend,
         name="governance_application_recommend"),
    path("participants/<str:code>", views.participant_detail, name="participant_detail"),
]
