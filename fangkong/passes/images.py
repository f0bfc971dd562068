"""The QR code of a pass as a picture: a PNG with a white border (saved to a phone's
photos, shown on a page as a data URI), and the module matrix the printable sheet draws
as vector squares.

The code carries only the pass token (`fangkong.passes.tokens`): no name, no colour. The
colour is looked up when the code is scanned, so a saved or printed picture never shows
a stale green.
"""

from __future__ import annotations

import io

import segno

from fangkong.passes.models import Pass
from fangkong.passes.tokens import pass_token

# "Q" (25%) like the building check-in code: a card in a pocket gets creased and worn.
QR_ERROR = "q"
BORDER = 4  # modules of white around the code: the quiet zone scanners need


def token_of(pass_: Pass) -> str:
    return pass_token(pass_.pk, pass_.version)


def pass_qr(token: str) -> segno.QRCode:
    return segno.make(token, error=QR_ERROR, micro=False)


def qr_png(token: str, *, scale: int = 12) -> bytes:
    """The code as a PNG: black on white with a four-module white border."""
    out = io.BytesIO()
    pass_qr(token).save(out, kind="png", scale=scale, border=BORDER, dark="#000",
                        light="#fff")
    return out.getvalue()


def qr_data_uri(token: str, *, scale: int = 8) -> str:
    """The PNG as a data: URI for an <img> (a phone saves it with a long press)."""
    return pass_qr(token).png_data_uri(scale=scale, border=BORDER, dark="#000",
                                       light="#fff")


def qr_matrix(token: str) -> list[list[bool]]:
    """The dark (True) and light modules, row by row, without the border."""
    return [[bool(module) for module in row] for row in pass_qr(token).matrix]
