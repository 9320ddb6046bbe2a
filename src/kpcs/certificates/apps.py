from django.apps import AppConfig


class CertificatesConfig(AppConfig):
    name = "kpcs.certificates"
    label = "certificates"
    verbose_name = "Certificates"
