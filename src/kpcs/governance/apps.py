from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "kpcs.governance"
    label = "governance"
    verbose_name = "Governance"
