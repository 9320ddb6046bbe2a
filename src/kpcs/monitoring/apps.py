from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "kpcs.monitoring"
    label = "monitoring"
    verbose_name = "Monitoring"
