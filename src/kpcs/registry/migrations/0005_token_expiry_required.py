# A migration of its own: PostgreSQL does not alter a table in the transaction that updated its rows.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('registry', '0004_trust_and_tokens'),
    ]

    operations = [
        migrations.AlterField(
            model_name='apitoken',
            name='expires_at',
            field=models.DateTimeField(verbose_name='expires at'),
        ),
    ]
