from django.urls import path, register_converter

from kpcs.certificates import views


class NumberConverter:
    """A certificate number as written in a path (`BW 0000003` arrives as `BW%200000003`): no slash and no dot,
    so `/certificates/BW%200000003.pdf` is left to the PDF route."""

    regex = r"[^/.]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(NumberConverter, "certificate_number")

urlpatterns = [
    path("certificates/", views.certificate_list, name="certificate_list"),
    path("certificates/new", views.certificate_issue, name="certificate_issue"),
    path("certificates/arrivals", views.certificate_arrivals, name="certificate_arrivals"),
    path("certificates/<certificate_number:number>", views.certificate_page, name="certificate_page"),
    path("certificates/<certificate_number:number>/cancel", views.certificate_cancel, name="certificate_cancel"),
    path("certificates/<certificate_number:number>/confirm", views.certificate_confirm, name="certificate_confirm"),
    path("certificates/<certificate_number:number>/reject", views.certificate_reject, name="certificate_reject"),
]
