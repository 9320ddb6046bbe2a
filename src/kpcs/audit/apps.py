from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "kpcs.audit"
    label = "audit"
    verbose_name = "Audit log"
