from django.contrib import admin
from django.urls import include, path

from kpcs.api import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
    path("", include("kpcs.web.urls")),
]

handler404 = "kpcs.web.views.not_found"
handler500 = "kpcs.web.views.server_error"
