# A migration of its own: PostgreSQL does not alter a table in the transaction that updated its rows.

from django.db import migrations


def existing_rows(apps, schema_editor):
    """Rows from before governance: every status came from status-history.csv, every participant counted from
    the scheme's start. `kpcs init` then loads the admission dates (admissions.csv) and corrects the statuses."""
    import datetime as dt

    apps.get_model("registry", "ParticipantStatus").objects.update(source="status-history.csv")
    apps.get_model("registry", "Participant").objects.filter(admitted_on__isnull=True).update(
        admitted_on=dt.date(2003, 1, 1), admission_precision="unknown")


class Migration(migrations.Migration):

    dependencies = [
        ('registry', '0006_governance_status_measures'),
    ]

    operations = [
        migrations.RunPython(existing_rows, migrations.RunPython.noop),
    ]
