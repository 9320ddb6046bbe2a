from django.urls import path

from kpcs.statistics import public_views, views

urlpatterns = [
    path("statistics", public_views.public_statistics, name="public_statistics"),
    path("statistics.csv", public_views.public_statistics_csv, name="public_statistics_csv"),
    path("participants", public_views.participants, name="participants"),
    path("statistics/desk", views.desk, name="statistics_desk"),
    path("statistics/production", views.submit_production, name="statistics_production"),
    path("statistics/import", views.import_file, name="statistics_import"),
]
