# The policies live in ParticipantPolicy since 0008 (date-effective): the participant's columns go.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('registry', '0008_participant_policy'),
    ]

    operations = [
        migrations.RemoveField(
            model_name='participant',
            name='confirmation_days',
        ),
        migrations.RemoveField(
            model_name='participant',
            name='validity_days',
        ),
    ]
