"""Sealed pieces are random bytes: PostgreSQL's TOAST would try to compress each one (and
fail) before storing it out of line. EXTERNAL stores them out of line uncompressed."""

from django.db import migrations

from fangkong.lib.migrations import VendorSQL


class Migration(migrations.Migration):
    dependencies = [("rosters", "0001_initial")]
    operations = [
        VendorSQL("postgresql",
                  ["ALTER TABLE rosters_importblob ALTER COLUMN data SET STORAGE EXTERNAL"],
                  ["ALTER TABLE rosters_importblob ALTER COLUMN data SET STORAGE EXTENDED"]),
    ]
