"""A migrated SQLite test database, made once per set of migrations and copied by every later test run.

Running every migration costs about 9 s of CPU on this 2-core machine (Django renders each
model state in turn), and CI starts pytest a dozen times: the suite's two xdist workers,
the browser tests, the fault tests, the slow-client test, the OpenFeature stages. The
first run to need the database migrates it as usual and keeps a copy (SQLite's backup
API, so the WAL is included), named for a hash of every migration file, Django's
version and the date; a later run copies that file into its own test database name instead. A change
to any migration changes the name, so a stale copy is never used. PostgreSQL runs keep
Django's own path (each test database migrated).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import sqlite3
import tempfile
from datetime import date
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parents[1]


def template_path() -> Path:
    # Today's date too: nothing a migration writes should depend on it, but a day-old copy costs one migrate.
    digest = hashlib.sha256(f"{django.get_version()} {date.today()}".encode())
    for path in sorted(ROOT.glob("*/migrations/*.py")):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return Path(tempfile.gettempdir()) / f"packedge-test-template-{digest.hexdigest()[:16]}.sqlite3"


def install() -> None:
    """Wrap SQLite's create_test_db: copy the template when there is one, else migrate and keep one."""
    from django.conf import settings
    from django.db.backends.sqlite3.creation import DatabaseCreation

    original = DatabaseCreation.create_test_db
    if getattr(original, "uses_template", False):
        return

    def create_test_db(self, verbosity=1, autoclobber=False, serialize=True, keepdb=False):
        if keepdb or self.is_in_memory_db(self._get_test_db_name()):
            return original(self, verbosity, autoclobber, serialize, keepdb)
        template = template_path()
        # One process migrates while the others (xdist's workers) wait for its copy.
        with open(f"{template}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not template.exists():
                name = original(self, verbosity, autoclobber, serialize, keepdb)
                partial = template.with_name(f"{template.name}.{os.getpid()}.partial")
                self.connection.ensure_connection()
                copy = sqlite3.connect(partial)
                try:
                    self.connection.connection.backup(copy)
                finally:
                    copy.close()
                os.replace(partial, template)
                return name
        name = self._get_test_db_name()
        self.connection.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{name}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(template, name)
        settings.DATABASES[self.connection.alias]["NAME"] = name
        self.connection.settings_dict["NAME"] = name
        if serialize:
            self.connection._test_serialized_contents = self.serialize_db_to_string()
        self.connection.ensure_connection()
        return name

    create_test_db.uses_template = True
    DatabaseCreation.create_test_db = create_test_db
