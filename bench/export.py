"""`fangkong bench export`: export N residents of one district to .xlsx and .csv.

Measures, on a scratch database created and dropped by the run, the export a district
administrator downloads (fangkong.rosters.exports.export_residents: scoped query, masked
or clear ID numbers and phones, government layout, watermark, audit record), against the
floor of the simplest fast way to do the same amount of work: the same columns read with
one plain query and written with xlsxwriter's constant-memory mode (csv: the csv module),
no layout, in the same run.

Target (issue 3): 100,000 rows to .xlsx in under 15 s.
"""

from __future__ import annotations

import argparse
import csv
import io
import time

from bench.common import emit, run_child, say, scratch_environment

BENCH = "export"
TARGET_SECONDS_PER_100K = 15.0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="fangkong bench export")
    parser.add_argument("--rows", "--size", dest="rows", type=int, default=100_000,
                        help="residents to export")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--quick", action="store_true", help="a small size in seconds (CI)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.rows = min(args.rows, 3_000)
    if args.child:
        return child(args)
    with scratch_environment(args.db) as env:
        return run_child("bench.export", ["--rows", str(args.rows), "--db", args.db,
                                          "--child"], env)


def child(args: argparse.Namespace) -> int:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from fangkong.accounts.models import Role
    from fangkong.accounts.services import staff_create
    from fangkong.places.models import Area, AreaKind
    from fangkong.rosters.exports import export_residents
    from fangkong.synth.city import CitySpec
    from fangkong.synth.load import load_city

    say(f"[export] loading {args.rows:,} residents ({args.db}) ...")
    load_city(CitySpec(residents=args.rows, seed=3, districts=1))
    district = Area.objects.get(kind=AreaKind.DISTRICT)
    admin = staff_create(username="bench_admin", password=None, role=Role.ADMIN,
                         area=district, check_password=False)
    for fmt in ("xlsx", "csv"):
        for full in (False, True):
            started = time.perf_counter()
            export = export_residents(by=admin, area=district, fmt=fmt, full=full)
            size = len(export.file.read())
            seconds = time.perf_counter() - started
            floor = floor_seconds(fmt)
            say(f"[export] {fmt} full={full}: {export.rows:,} rows in {seconds:.2f} s "
                f"({size / 2**20:.1f} MB); floor {floor:.2f} s")
            scaled = seconds * 100_000 / max(export.rows, 1)
            emit(bench=BENCH, metric=f"{fmt}{'_full' if full else ''}_rows_per_s",
                 value=export.rows / seconds, unit="1/s", db=args.db, size=export.rows,
                 floor_value=export.rows / floor, ratio=seconds / floor,
                 target="100k rows to .xlsx in < 15 s" if fmt == "xlsx" else None,
                 meets_target=scaled < TARGET_SECONDS_PER_100K if fmt == "xlsx" else None,
                 seconds=round(seconds, 2), floor_seconds=round(floor, 2),
                 seconds_per_100k=round(scaled, 2), bytes=size)
    return 0


def floor_seconds(fmt: str) -> float:
    """The same rows and columns, one plain query, written with no layout at all."""
    import xlsxwriter

    from fangkong.residents.models import Resident

    columns = ["name", "gender", "birth_date", "id_number_masked", "phone_masked",
               "household__building__estate", "household__building__name", "household__unit",
               "household__room", "grid__name", "relation", "remarks"]
    started = time.perf_counter()
    rows = Resident.objects.order_by("pk").values_list(*columns).iterator(chunk_size=5000)
    out = io.BytesIO()
    if fmt == "xlsx":
        book = xlsxwriter.Workbook(out, {"constant_memory": True})
        sheet = book.add_worksheet()
        for r, row in enumerate(rows):
            sheet.write_row(r, 0, row)
        book.close()
    else:
        text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="")
        csv.writer(text).writerows(rows)
        text.flush()
    return time.perf_counter() - started


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
