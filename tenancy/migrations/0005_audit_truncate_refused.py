"""On PostgreSQL, ``TRUNCATE`` of the audit log is refused too.

Migration 0004's row trigger refuses UPDATE and DELETE, but TRUNCATE fires no
row triggers: one statement emptied the log. A statement trigger BEFORE
TRUNCATE refuses it, with the same one exception as for DELETE: the
transaction-local ``packedge.audit_erase`` (``SET LOCAL``), which only
``tenancy.services.organization_delete`` and the test suite's database flush set.
``TRUNCATE packedge_organization CASCADE`` reaches the log and is refused as well.
"""

from __future__ import annotations

from django.db import migrations

CREATE = """
CREATE FUNCTION packedge_audit_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('packedge.audit_erase', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit entries are append-only (TRUNCATE refused)';
END;
$$;
CREATE TRIGGER packedge_auditentry_no_truncate
    BEFORE TRUNCATE ON packedge_auditentry
    FOR EACH STATEMENT EXECUTE FUNCTION packedge_audit_no_truncate();
"""

DROP = """
DROP TRIGGER IF EXISTS packedge_auditentry_no_truncate ON packedge_auditentry;
DROP FUNCTION IF EXISTS packedge_audit_no_truncate();
"""


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("packedge", "0004_audit_append_only")]
    operations = [migrations.RunPython(create_trigger, drop_trigger)]
