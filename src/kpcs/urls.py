from django.urls import include, path

from kpcs.api import api
from kpcs.certificates import pdf_views
from kpcs.registry.admin import site as admin_site

urlpatterns = [
    path("api/v1/", api.urls),
    path("admin/", admin_site.urls),  # the secretariat's site: the admin role, not is_staff (registry/admin.py)
    path("certificates/<str:number>.pdf", pdf_views.certificate_pdf, name="certificate_pdf"),
    path("i18n/", include("django.conf.urls.i18n")),  # set_language: the switch in every page's header
    path("", include("kpcs.certificates.urls")),
    path("", include("kpcs.registry.urls")),
    path("", include("kpcs.statistics.urls")),
    path("", include("kpcs.monitoring.urls")),
    path("", include("kpcs.governance.urls")),
    path("", include("kpcs.custody.urls")),
    path("", include("kpcs.web.urls")),
]

handler404 = "kpcs.web.views.not_found"
handler500 = "kpcs.web.views.server_error"
