from django.apps import AppConfig


class CertificatesConfig(AppConfig):
    name = "kpcs.certificates"
    label = "certificates"
    verbose_name = "Certificates"

    def ready(self) -> None:
        from kpcs.audit import replay
        from kpcs.certificates import selectors

        # The audit log replays certificates' states against the rows (`kpcs audit verify`).
        replay.register("certificate", selectors.certificate_states, selectors.certificate_state_of)
