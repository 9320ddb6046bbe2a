# Each operator registered before custody holds one licence (its kind, number and validity on the registry's
# Operator row): it becomes a custody Licence, so nothing is lost and the registry's row stays as it is.

from django.db import migrations

KINDS = {"exporter": "exporting", "importer": "importing", "miner": "mining", "digger": "digging",
         "buyer": "buying", "dealer": "dealing", "agent": "agent", "courier": "courier"}


def licences_from_operators(apps, schema_editor):
    from django.utils import timezone

    Operator = apps.get_model("registry", "Operator")
    Licence = apps.get_model("custody", "Licence")
    now = timezone.now()
    taken = set(Licence.objects.values_list("participant_id", "number"))
    new = []
    for op in Operator.objects.order_by("pk").iterator(chunk_size=2000):
        kind = KINDS.get(op.kind)
        if kind is None or (op.participant_id, op.licence) in taken:
            continue
        taken.add((op.participant_id, op.licence))
        new.append(Licence(operator_id=op.pk, participant_id=op.participant_id, kind=kind, number=op.licence,
                           valid_from=op.valid_from, valid_until=op.valid_until, recorded_at=now,
                           recorded_by="migration from the registry"))
    Licence.objects.bulk_create(new, batch_size=2000)


def forget_migrated(apps, schema_editor):
    apps.get_model("custody", "Licence").objects.filter(recorded_by="migration from the registry").delete()


class Migration(migrations.Migration):

    dependencies = [
        ("custody", "0001_registers_parcels_events"),
    ]

    operations = [
        migrations.RunPython(licences_from_operators, forget_migrated),
    ]
