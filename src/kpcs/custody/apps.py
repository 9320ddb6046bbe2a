from django.apps import AppConfig


class CustodyConfig(AppConfig):
    name = "kpcs.custody"
    label = "custody"
    verbose_name = "Custody"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from kpcs.custody import services
        from kpcs.registry.models import Operator

        # An operator registered through the registry gets its first licence here, in the same transaction
        # (INT-06..08): the registry's one licence per operator stays the source of that first record.
        post_save.connect(services.licence_for_new_operator, sender=Operator,
                          dispatch_uid="custody.licence_for_new_operator")

        from kpcs.custody import handlers

        # Goods move with their certificates: imported on confirmation, returned when a certificate from custody
        # is cancelled, rejected or expires unused (issue 9, issue 10 item 7), in the certificate's transaction.
        handlers.subscribe()
