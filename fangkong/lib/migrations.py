"""Migration operations that run SQL on one database vendor only."""

from __future__ import annotations

from django.db import migrations


class VendorSQL(migrations.RunSQL):
    """RunSQL that applies only on `vendor` ("postgresql" or "sqlite")."""

    def __init__(self, vendor: str, sql, reverse_sql=None, **kwargs) -> None:  # noqa: ANN001
        self.vendor = vendor
        super().__init__(sql, reverse_sql, **kwargs)

    def deconstruct(self):  # noqa: ANN201
        name, args, kwargs = super().deconstruct()
        return name, [self.vendor, *args], kwargs

    def database_forwards(self, app_label, schema_editor, from_state, to_state):  # noqa: ANN001, ANN201
        if schema_editor.connection.vendor == self.vendor:
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):  # noqa: ANN001, ANN201
        if schema_editor.connection.vendor == self.vendor:
            super().database_backwards(app_label, schema_editor, from_state, to_state)
