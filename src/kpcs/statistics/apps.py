from django.apps import AppConfig


class StatisticsConfig(AppConfig):
    name = "kpcs.statistics"
    label = "kp_statistics"
    verbose_name = "Statistics"
