"""Off means off: every flag's settings in an environment name the variant served while off.

Existing rows keep what they serve today: a disabled flag served its default
variant, so that becomes its off variant. New flags choose theirs at creation
(a boolean flag's false variant unless told otherwise).
"""

from django.db import migrations, models
from django.db.models import F


def keep_what_is_served(apps, schema_editor):
    apps.get_model("flags", "FlagEnvironment").objects.update(off_variant=F("default_variant"))


class Migration(migrations.Migration):
    dependencies = [("flags", "0006_environment_in_surrogate_keys")]

    operations = [
        migrations.AddField(
            model_name="flagenvironment",
            name="off_variant",
            field=models.CharField(default="", max_length=100),
            preserve_default=False,
        ),
        migrations.RunPython(keep_what_is_served, migrations.RunPython.noop),
    ]
