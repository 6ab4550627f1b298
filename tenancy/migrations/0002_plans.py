from __future__ import annotations

from django.db import migrations

PLANS = [
    # slug, name, is_paid, flag analytics retention (the flag usage contract: 7 days on Free, 90 on Pro/Enterprise)
    ("free", "Free", False, 7),
    ("pro", "Pro", True, 90),
    ("enterprise", "Enterprise", True, 90),
]


def create_plans(apps, schema_editor):
    Plan = apps.get_model("packedge", "Plan")
    for slug, name, is_paid, retention in PLANS:
        Plan.objects.update_or_create(
            slug=slug, defaults={"name": name, "is_paid": is_paid, "flag_retention_days": retention}
        )


class Migration(migrations.Migration):
    dependencies = [("packedge", "0001_initial")]
    operations = [migrations.RunPython(create_plans, migrations.RunPython.noop)]
