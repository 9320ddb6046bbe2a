from django.urls import path

from kpcs.registry import views

urlpatterns = [
    path("operators/", views.operator_list, name="operator_list"),
    path("operators/new", views.operator_new, name="operator_new"),
]
