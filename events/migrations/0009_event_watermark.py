"""Events lose their per-row fold mark: consumers keep a watermark on ids (analytics 0003 set it).

The partial index on unfolded rows becomes a plain (product, id) index: "this
product's events after id N" is what a consumer reads.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0008_product_recount_state"),
        ("analytics", "0003_counterstate_folded_through"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="event", name="event_pending_rollup"),
        migrations.RemoveField(model_name="event", name="rollup_batch"),
        migrations.AddIndex(
            model_name="event",
            index=models.Index(fields=["product", "id"], name="event_product_id"),
        ),
    ]
