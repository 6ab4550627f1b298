"""Feature Usage's recount state on the product: NULL when ready, else the recount's progress."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('events', '0007_counters_move_to_analytics'),
    ]

    operations = [
        migrations.AddField(
            model_name='product',
            name='recount_progress',
            field=models.PositiveSmallIntegerField(blank=True, editable=False, null=True),
        ),
    ]
