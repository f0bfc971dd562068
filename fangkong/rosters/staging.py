"""The sealed pieces of an import (uploaded file, samples, prepared rows) in the database.

Each piece is sealed with AES-GCM under a purpose naming the import and the kind, so a
piece copied into another import or kind does not open. Staged rows are `marshal`led:
only plain tuples, str, bytes, int and None go in, and a piece is unmarshalled only
after its authentication tag has been checked, so nobody can feed it forged bytes.
"""

from __future__ import annotations

import marshal
from collections.abc import Iterable, Iterator

from fangkong.lib import crypto
from fangkong.rosters.models import BlobKind, ImportBlob, RosterImport

FILE_PIECE = 8 * 1024 * 1024  # bytes of the uploaded file per blob
STAGE_PIECE = 20_000  # staged rows per blob


def _purpose(roster_import: RosterImport, kind: str) -> str:
    return f"rosters.{kind}.{roster_import.pk}"


def blobs_put(roster_import: RosterImport, kind: str, pieces: Iterable[bytes]) -> int:
    """Replace the pieces of `kind` with `pieces` (sealed). Returns how many were stored."""
    ImportBlob.objects.filter(roster_import=roster_import, kind=kind).delete()
    ring = crypto.keyring()
    purpose = _purpose(roster_import, kind)
    n = 0
    batch = []
    for n, piece in enumerate(pieces, 1):
        batch.append(ImportBlob(roster_import=roster_import, kind=kind, seq=n,
                                data=ring.seal_bytes(piece, purpose=purpose)))
        if len(batch) >= 8:
            ImportBlob.objects.bulk_create(batch)
            batch = []
    ImportBlob.objects.bulk_create(batch)
    return n


def blobs_get(roster_import: RosterImport, kind: str) -> Iterator[bytes]:
    ring = crypto.keyring()
    purpose = _purpose(roster_import, kind)
    ids = list(ImportBlob.objects.filter(roster_import=roster_import, kind=kind)
               .order_by("seq").values_list("pk", flat=True))
    for pk in ids:  # one piece in memory at a time
        data = ImportBlob.objects.filter(pk=pk).values_list("data", flat=True).get()
        yield ring.open_bytes(data, purpose=purpose)


def file_put(roster_import: RosterImport, data: bytes) -> None:
    blobs_put(roster_import, BlobKind.FILE,
              (data[i:i + FILE_PIECE] for i in range(0, max(len(data), 1), FILE_PIECE)))


def file_get(roster_import: RosterImport) -> bytes:
    return b"".join(blobs_get(roster_import, BlobKind.FILE))


def value_put(roster_import: RosterImport, kind: str, value: object) -> None:
    blobs_put(roster_import, kind, [marshal.dumps(value)])


def value_get(roster_import: RosterImport, kind: str, default: object = None) -> object:
    for piece in blobs_get(roster_import, kind):
        return marshal.loads(piece)  # noqa: S302 - authenticated by AES-GCM just now
    return default


def stage_put(roster_import: RosterImport, rows: list[tuple]) -> None:
    blobs_put(roster_import, BlobKind.STAGE,
              (marshal.dumps(rows[i:i + STAGE_PIECE])
               for i in range(0, len(rows), STAGE_PIECE)))


def stage_get(roster_import: RosterImport) -> Iterator[tuple]:
    for piece in blobs_get(roster_import, BlobKind.STAGE):
        yield from marshal.loads(piece)  # noqa: S302 - authenticated by AES-GCM just now
