"""Driving an import the way the pages do, with the background steps run at once."""

from __future__ import annotations

import csv
import io

from fangkong.jobs.dispatch import run_due_jobs
from fangkong.rosters import services
from fangkong.rosters.models import ImportStatus, RosterImport


def run_jobs() -> None:
    while run_due_jobs(owner="test", limit=50):
        pass


def csv_bytes(rows: list[list[object]], *, encoding: str = "utf-8-sig",
              delimiter: str = ",") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def start(by, area, data: bytes, filename: str = "roster.csv", **kwargs) -> RosterImport:  # noqa: ANN001, ANN003
    roster_import = services.roster_import_start(by=by, area=area, filename=filename,
                                                 data=data, **kwargs)
    run_jobs()
    roster_import.refresh_from_db()
    return roster_import


def preview(by, area, data: bytes, filename: str = "roster.csv",  # noqa: ANN001
            mapping: list[str] | None = None, **kwargs) -> RosterImport:  # noqa: ANN003
    """Upload, accept the automatic (or given) mapping, check every row."""
    roster_import = start(by, area, data, filename, **kwargs)
    assert roster_import.status == ImportStatus.MAPPING, roster_import.message
    services.roster_import_set_mapping(by=by, roster_import=roster_import,
                                       mapping=mapping or roster_import.mapping)
    run_jobs()
    roster_import.refresh_from_db()
    return roster_import


def commit(by, roster_import: RosterImport) -> RosterImport:  # noqa: ANN001
    services.roster_import_commit(by=by, roster_import=roster_import)
    run_jobs()
    roster_import.refresh_from_db()
    return roster_import
