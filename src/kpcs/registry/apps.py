from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "kpcs.registry"
    label = "registry"
    verbose_name = "Registry"
