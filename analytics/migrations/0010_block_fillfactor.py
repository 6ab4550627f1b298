"""PostgreSQL: the running-total block tables keep 30 % of each page free (fillfactor 70).

Every fold adds to the rows of the current block of each pair it saw: an UPDATE of 32
columns, none of them indexed. With full pages (the default, 100) each new row version
goes to another page, and every index of the table gets an entry for it; with room on the
page PostgreSQL writes a heap-only tuple (HOT): no index entry, and the old version is
pruned in place. Measured on the PERFORMANCE.md shape, a 200,000-event fold into 1M
folded events (108k of 310k domain block rows updated, alternated, load ~2): 2.2 s at
fillfactor 100, 1.2-1.6 s at 70 (66 % of updates HOT), 1.2-1.3 s at 50 (95 %); a first
fold (inserts only) the same at 100 and 70. The cost is disk: a past block's page stays
70 % full (docs/fold.md). Existing rows keep their pages until rewritten (a rebuild).
"""

from django.db import migrations

TABLES = (
    "events_licenseblockcounter",
    "events_domainblockcounter",
    "events_licensedomainblockcounter",
    "events_licensetotalblock",
    "events_domaintotalblock",
)


def set_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in TABLES:
            schema_editor.execute(f'ALTER TABLE "{name}" SET (fillfactor = 70)')


def reset_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in TABLES:
            schema_editor.execute(f'ALTER TABLE "{name}" RESET (fillfactor)')


class Migration(migrations.Migration):
    dependencies = [("analytics", "0009_sqlite_reach_key")]

    operations = [migrations.RunPython(set_fillfactor, reset_fillfactor, elidable=False)]
