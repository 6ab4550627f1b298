"""On PostgreSQL, the database itself refuses to change or delete an audit entry.

The one exception is an organization being deleted (the demo reset, staff in
the admin): its history goes with it. ``tenancy.services.organization_delete``
sets ``packedge.audit_erase`` for its own transaction only (``SET LOCAL``).
SQLite, the embedded default, relies on the interfaces alone.
"""

from __future__ import annotations

from django.db import migrations

CREATE = """
CREATE FUNCTION packedge_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('packedge.audit_erase', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit entries are append-only (% refused)', TG_OP;
END;
$$;
CREATE TRIGGER packedge_auditentry_append_only
    BEFORE UPDATE OR DELETE ON packedge_auditentry
    FOR EACH ROW EXECUTE FUNCTION packedge_audit_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS packedge_auditentry_append_only ON packedge_auditentry;
DROP FUNCTION IF EXISTS packedge_audit_append_only();
"""


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("packedge", "0003_audit_log_and_roles")]
    operations = [migrations.RunPython(create_trigger, drop_trigger)]
