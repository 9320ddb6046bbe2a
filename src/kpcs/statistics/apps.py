from django.apps import AppConfig


class StatisticsConfig(AppConfig):
    name = "kpcs.statistics"
    label = "kp_statistics"
    verbose_name = "Statistics"

    def ready(self) -> None:
        from kpcs.statistics import handlers

        # The derived trade follows the certificates' events, in their transactions (STAT-01, issue 10 item 7).
        handlers.subscribe()
