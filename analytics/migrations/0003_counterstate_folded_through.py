"""The per-row mark (events.rollup_batch) gives way to a per-product watermark on event ids.

Each product's ``folded_through`` becomes the id just below its lowest unfolded event
(or its highest event when all are folded). Where a fold once claimed rows above an
event that was still being inserted, those rows lie above the watermark and would be
counted twice: such products are left "recounting" (Feature Usage answers 503) until
``python manage.py rebuild_feature_usage prd_…`` recounts them.
"""

from django.db import migrations, models
from django.db.models import Max, Min


def set_watermarks(apps, schema_editor):
    CounterState = apps.get_model("analytics", "CounterState")
    Event = apps.get_model("events", "Event")
    Product = apps.get_model("events", "Product")
    for state in CounterState.objects.all():
        events = Event.objects.filter(product_id=state.product_id)
        bounds = events.aggregate(pending=Min("id", filter=models.Q(rollup_batch__isnull=True)), high=Max("id"))
        if bounds["pending"] is None:
            state.folded_through = bounds["high"] or 0
        else:
            state.folded_through = bounds["pending"] - 1
            if events.filter(id__gt=state.folded_through, rollup_batch__isnull=False).exists():
                Product.objects.filter(pk=state.product_id).update(recount_progress=0)
        state.save(update_fields=["folded_through"])


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0002_recount_token"),
        ("events", "0008_product_recount_state"),
    ]

    operations = [
        migrations.AddField(
            model_name="counterstate",
            name="folded_through",
            field=models.BigIntegerField(default=0),
        ),
        migrations.RunPython(set_watermarks, migrations.RunPython.noop),
        migrations.RemoveField(model_name="counterstate", name="last_batch"),
    ]
