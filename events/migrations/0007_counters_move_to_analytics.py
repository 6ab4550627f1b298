"""The Feature Usage counters move to the analytics app: its state only, the tables stay as they are."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('events', '0006_event_product_index_redundant'),
        ('analytics', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.RemoveField(
                    model_name='dayhourcounter',
                    name='product',
                ),
            migrations.RemoveField(
                    model_name='domainblockcounter',
                    name='product',
                ),
            migrations.RemoveField(
                    model_name='domaintotalblock',
                    name='product',
                ),
            migrations.RemoveField(
                    model_name='featuredaycounter',
                    name='product',
                ),
            migrations.RemoveField(
                    model_name='featurehourcounter',
                    name='product',
                ),
            migrations.RemoveField(
                    model_name='featurereachcounter',
                    name='product',
                ),
            migrations.RemoveField(
                    model_name='licenseblockcounter',
                    name='license',
                ),
            migrations.RemoveField(
                    model_name='licenseblockcounter',
                    name='product',
                ),
            migrations.RemoveField(
                    model_name='licensedomainblockcounter',
                    name='license',
                ),
            migrations.RemoveField(
                    model_name='licensedomainblockcounter',
                    name='product',
                ),
            migrations.RemoveField(
                    model_name='licensehourcounter',
                    name='license',
                ),
            migrations.RemoveField(
                    model_name='licensehourcounter',
                    name='product',
                ),
            migrations.RemoveField(
                    model_name='licensetotalblock',
                    name='license',
                ),
            migrations.RemoveField(
                    model_name='licensetotalblock',
                    name='product',
                ),
            migrations.DeleteModel(
                    name='CounterState',
                ),
            migrations.DeleteModel(
                    name='DayHourCounter',
                ),
            migrations.DeleteModel(
                    name='DomainBlockCounter',
                ),
            migrations.DeleteModel(
                    name='DomainTotalBlock',
                ),
            migrations.DeleteModel(
                    name='FeatureDayCounter',
                ),
            migrations.DeleteModel(
                    name='FeatureHourCounter',
                ),
            migrations.DeleteModel(
                    name='FeatureReachCounter',
                ),
            migrations.DeleteModel(
                    name='LicenseBlockCounter',
                ),
            migrations.DeleteModel(
                    name='LicenseDomainBlockCounter',
                ),
            migrations.DeleteModel(
                    name='LicenseHourCounter',
                ),
            migrations.DeleteModel(
                    name='LicenseTotalBlock',
                ),
            ],
            database_operations=[],
        ),
    ]
