from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "kpcs.web"
    label = "web"
    verbose_name = "Web interface"
