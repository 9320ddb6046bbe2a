from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "kpcs.registry"
    label = "registry"
    verbose_name = "Registry"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_delete, post_save

        from kpcs.audit import replay
        from kpcs.registry import models, selectors, services

        # Any change to these tables, through services or the admin, invalidates every process's snapshot
        # (participants, statuses, authorities, keys) and its cache of people's roles.
        for model in (models.Participant, models.ParticipantStatus, models.ParticipantPolicy,
                      models.Measure, models.Authority, models.SigningKey,
                      models.Membership, get_user_model()):
            post_save.connect(services.bump_registry_version, sender=model, dispatch_uid=f"bump-{model.__name__}")
            post_delete.connect(services.bump_registry_version, sender=model,
                                dispatch_uid=f"bump-del-{model.__name__}")

        # The audit log replays these types' states against the rows (`kpcs audit verify`).
        replay.register("signing_key", selectors.signing_key_states, selectors.signing_key_state_of)
        replay.register("participant_status", selectors.participant_status_states,
                        selectors.participant_status_state_of)
        replay.register("api_token", selectors.api_token_states, selectors.api_token_state_of)
        replay.register("user", selectors.user_states, selectors.user_state_of)
