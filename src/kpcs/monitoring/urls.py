from django.urls import path

from kpcs.monitoring import views

urlpatterns = [
    path("findings/", views.finding_list, name="finding_list"),
    path("findings/<int:pk>", views.finding_detail, name="finding_detail"),
    path("findings/<int:pk>/clarification", views.request_clarification, name="finding_clarification"),
    path("findings/<int:pk>/answer", views.answer, name="finding_answer"),
    path("findings/<int:pk>/close", views.close, name="finding_close"),
    path("findings/<int:pk>/escalate", views.escalate, name="finding_escalate"),
]
