"""The audit log is append-only in the database itself: UPDATE and DELETE are refused."""

from django.db import migrations

from fangkong.lib.migrations import VendorSQL

SQLITE = [
    "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_auditevent "
    "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
    "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_auditevent "
    "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
]
SQLITE_REVERSE = ["DROP TRIGGER audit_event_no_update", "DROP TRIGGER audit_event_no_delete"]
POSTGRESQL = [
    "CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'audit events are append-only'; END $$",
    "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
    "ON audit_auditevent FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()",
]
POSTGRESQL_REVERSE = [
    "DROP TRIGGER audit_event_append_only ON audit_auditevent",
    "DROP FUNCTION audit_event_append_only()",
]


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [
        VendorSQL("sqlite", SQLITE, SQLITE_REVERSE),
        VendorSQL("postgresql", POSTGRESQL, POSTGRESQL_REVERSE),
    ]
