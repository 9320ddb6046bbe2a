# Per-participant policies become date-effective (CERT-09, IMP-02): one row per participant from the scheme's
# start with the values of its columns; 0009 then drops the columns (one source of truth). A migration of its own:
# PostgreSQL refuses to alter a table while rows referencing it have pending (deferred) constraint checks.

import django.db.models.deletion
from django.db import migrations, models


def policies_from_columns(apps, schema_editor):
    import datetime as dt

    from django.utils import timezone

    Participant = apps.get_model("registry", "Participant")
    Policy = apps.get_model("registry", "ParticipantPolicy")
    now = timezone.now()
    Policy.objects.bulk_create(
        Policy(participant_id=code, valid_from=dt.date(2003, 1, 1), validity_days=validity,
               confirmation_days=confirmation, recorded_at=now)
        for code, validity, confirmation in Participant.objects.values_list("code", "validity_days",
                                                                            "confirmation_days"))


def columns_from_policies(apps, schema_editor):
    """Back: the columns (still there until 0009) take each participant's first policy."""
    Policy = apps.get_model("registry", "ParticipantPolicy")
    Participant = apps.get_model("registry", "Participant")
    for policy in Policy.objects.order_by("participant_id", "-valid_from"):
        Participant.objects.filter(code=policy.participant_id).update(
            validity_days=policy.validity_days, confirmation_days=policy.confirmation_days)


class Migration(migrations.Migration):

    dependencies = [
        ('registry', '0007_existing_statuses_and_admissions'),
    ]

    operations = [
        migrations.CreateModel(
            name='ParticipantPolicy',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('valid_from', models.DateField(verbose_name='valid from')),
                ('validity_days', models.PositiveIntegerField(help_text='longest allowed validity, CERT-09', verbose_name='certificate validity (days)')),
                ('confirmation_days', models.PositiveIntegerField(help_text='IMP-02', verbose_name='import confirmation deadline (days)')),
                ('decision_id', models.PositiveBigIntegerField(blank=True, help_text='the governance decision that recorded it', null=True, verbose_name='decision')),
                ('recorded_at', models.DateTimeField(verbose_name='recorded at')),
                ('participant', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='policies', to='registry.participant', verbose_name='participant')),
            ],
            options={
                'verbose_name': 'participant policy',
                'verbose_name_plural': 'participant policies',
                'ordering': ['participant', 'valid_from'],
                'constraints': [models.UniqueConstraint(fields=('participant', 'valid_from'), name='registry_policy_unique_day')],
            },
        ),
        migrations.RunPython(policies_from_columns, columns_from_policies),
    ]
