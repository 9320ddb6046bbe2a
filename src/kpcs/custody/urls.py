from django.urls import path

from kpcs.custody import views

urlpatterns = [
    path("custody/", views.custody_desk, name="custody_desk"),
    path("custody/sites/new", views.site_new, name="custody_site_new"),
    path("custody/licences/new", views.licence_new, name="custody_licence_new"),
    path("custody/production/new", views.production_new, name="custody_production_new"),
    path("custody/transfers/new", views.transfer_new, name="custody_transfer_new"),
    path("custody/splits/new", views.split_new, name="custody_split_new"),
    path("custody/merges/new", views.merge_new, name="custody_merge_new"),
    path("custody/losses/new", views.loss_new, name="custody_loss_new"),
    path("custody/seizures/new", views.seizure_new, name="custody_seizure_new"),
    path("custody/events", views.event_list, name="custody_events"),
    path("custody/operators/<int:pk>", views.operator_stock, name="custody_operator"),
    path("custody/parcels/<int:pk>", views.parcel_page, name="custody_parcel"),
]
