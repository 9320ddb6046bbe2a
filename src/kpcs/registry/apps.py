from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "kpcs.registry"
    label = "registry"
    verbose_name = "Registry"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_delete, post_save

        from kpcs.registry import models, services

        # Any change to these tables, through services or the admin, invalidates every process's snapshot
        # (participants, statuses, authorities, keys) and its cache of people's roles.
        for model in (models.Participant, models.ParticipantStatus, models.Authority, models.SigningKey,
                      models.Membership, get_user_model()):
            post_save.connect(services.bump_registry_version, sender=model, dispatch_uid=f"bump-{model.__name__}")
            post_delete.connect(services.bump_registry_version, sender=model,
                                dispatch_uid=f"bump-del-{model.__name__}")
