"""The printable pass cards of a building: an A4 PDF, 2 × 4 cards a page, with cut marks.

Each card holds, in Chinese whatever the printing worker's language (the cards are read
at a Chinese gate): "出入证 / 扫码通行", the community, the masked name (张*华), the room,
the QR code and the date of issue (and its version once re-issued, so a guard can tell a
card that was replaced). Nothing else personal, and no colour: the colour is looked up
when the code is scanned (`fangkong.passes.status`), so a printed card never shows a
stale green. The QR code is drawn as vector squares from the same matrix as the PNG
(`fangkong.passes.images`), sharp at any printer resolution.

Each page's foot carries who printed it and when (the export watermark), with a warning
that the sheet holds personal data.

**Fonts.** Chinese text needs a CJK font. A CJK TrueType font found on the system is
embedded (subset to the characters used): `PASSES_SHEET_FONT` in the settings
("path" or "path#index" for a collection) when set, else the first of FONT_CANDIDATES
that reportlab can read (WenQuanYi Zen Hei / Micro Hei, AR PL UMing, Droid Sans
Fallback, Noto Sans SC as TrueType). Noto Sans CJK as shipped by Debian has PostScript
(CFF) outlines, which reportlab cannot embed; it is tried and skipped. When none is
found the sheet falls back to reportlab's built-in CID font "STSong-Light"
(`UnicodeCIDFont`): it needs nothing installed and renders in every PDF reader that has
the Adobe Chinese font pack or a substitute (pdfium, Acrobat, most phones), but the
glyphs are not in the file. Either way the sheet is made without network access.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from fangkong.followup.channels.base import masked_name
from fangkong.lib import clock
from fangkong.passes.images import qr_matrix, token_of
from fangkong.passes.models import Pass
from fangkong.places.models import Building
from fangkong.residents.models import ResidentStatus

log = logging.getLogger(__name__)

FONT_CANDIDATES: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
    ("/usr/share/fonts/truetype/noto/NotoSansSC-Regular.ttf", 0),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),  # CFF: skipped today
)
CID_FALLBACK = "STSong-Light"
EMBEDDED = "FangkongCJK"

COLUMNS, ROWS = 2, 4
PER_PAGE = COLUMNS * ROWS
PAGE_W, PAGE_H = A4
MARGIN_X, MARGIN_TOP, MARGIN_BOTTOM = 10 * mm, 12 * mm, 16 * mm
CARD_W = (PAGE_W - 2 * MARGIN_X) / COLUMNS
CARD_H = (PAGE_H - MARGIN_TOP - MARGIN_BOTTOM) / ROWS
PAD = 5 * mm
QR_SIZE = 42 * mm  # with its 4-module quiet zone; a version-3 code: ~1.1 mm a module
QUIET = 4  # modules
MARK = 4 * mm  # length of a cut mark, in the margin

TITLE = "出入证 / 扫码通行"
WHOLE_HOUSEHOLD = "全户通用"


@dataclass(frozen=True)
class Card:
    token: str
    community: str
    name: str  # masked, or WHOLE_HOUSEHOLD
    room: str
    issued_on: date
    version: int


@lru_cache(maxsize=1)
def font_name() -> str:
    """The registered font for the cards' text (see the module docstring)."""
    configured = str(getattr(settings, "PASSES_SHEET_FONT", "") or "")
    candidates = list(FONT_CANDIDATES)
    if configured:
        path, _sep, index = configured.partition("#")
        candidates.insert(0, (path, int(index or 0)))
    for path, index in candidates:
        try:
            pdfmetrics.registerFont(TTFont(EMBEDDED, path, subfontIndex=index))
        except Exception:  # noqa: BLE001, S112 - missing, unreadable or CFF: try the next
            continue
        return EMBEDDED
    log.info("no CJK TrueType font found: pass sheets use the built-in %s", CID_FALLBACK)
    pdfmetrics.registerFont(UnicodeCIDFont(CID_FALLBACK))
    return CID_FALLBACK


def _room_key(card_room: tuple[int, str]) -> tuple[int, int, str]:
    unit, room = card_room
    return unit, len(room), room  # 201 before 1001


def building_cards(building: Building) -> list[Card]:
    """The cards of every standing pass of the building (not revoked, not expired, for an
    active resident or a household with someone registered), room by room: the household
    pass first, then its residents in the order they were registered."""
    today = clock.local_today()
    standing = Pass.objects.filter(revoked_at__isnull=True).filter(
        Q(expires_on__isnull=True) | Q(expires_on__gte=today))
    personal = (standing.filter(resident__household__building=building,
                                resident__status=ResidentStatus.ACTIVE)
                .select_related("resident__household", "resident__community"))
    households = (standing.filter(household__building=building)
                  .select_related("household", "household__community")
                  .annotate(members=Count("household__residents", filter=Q(
                      household__residents__status=ResidentStatus.ACTIVE))))
    prefix = building.estate
    rows: list[tuple[tuple[int, int, str], int, int, Card]] = []
    for pass_ in personal:
        resident = pass_.resident
        household = resident.household
        rows.append((_room_key((household.unit, household.room)), 1, resident.pk, Card(
            token=token_of(pass_), community=resident.community.name,
            name=masked_name(resident.name), room=prefix + household.label,
            issued_on=timezone.localtime(pass_.issued_at).date(), version=pass_.version)))
    for pass_ in households:
        if not pass_.members:
            continue
        household = pass_.household
        rows.append((_room_key((household.unit, household.room)), 0, 0, Card(
            token=token_of(pass_), community=household.community.name,
            name=WHOLE_HOUSEHOLD, room=prefix + household.label,
            issued_on=timezone.localtime(pass_.issued_at).date(), version=pass_.version)))
    rows.sort(key=lambda row: row[:3])
    return [row[3] for row in rows]


def sheet_pdf(cards: list[Card], *, title: str, printed_by: str,
              printed_at: datetime) -> bytes:
    """The A4 PDF of `cards` (PER_PAGE a page; one page saying so when there is none)."""
    font = font_name()
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4, pageCompression=1, invariant=False)
    canvas.setTitle(title)
    canvas.setAuthor("fangkong")
    canvas.setCreator("fangkong")
    pages = max(1, -(-len(cards) // PER_PAGE))
    stamp = timezone.localtime(printed_at).strftime("%Y-%m-%d %H:%M")
    for page in range(pages):
        chunk = cards[page * PER_PAGE:(page + 1) * PER_PAGE]
        _cut_marks(canvas)
        for n, card in enumerate(chunk):
            column, row = n % COLUMNS, n // COLUMNS
            x = MARGIN_X + column * CARD_W
            y = PAGE_H - MARGIN_TOP - (row + 1) * CARD_H
            _card(canvas, card, x, y, font)
        if not cards:
            canvas.setFont(font, 16)
            canvas.drawCentredString(PAGE_W / 2, PAGE_H / 2, "本楼暂无有效的出入证")
        canvas.setFont(font, 8)
        canvas.setFillGray(0.35)
        canvas.drawString(MARGIN_X, 7 * mm,
                          f"{title} · 打印：{printed_by} {stamp} · "
                          "本页含居民个人信息，请勿拍照外传，多余卡片请销毁")
        canvas.drawRightString(PAGE_W - MARGIN_X, 7 * mm, f"第 {page + 1} / {pages} 页")
        canvas.setFillGray(0)
        canvas.showPage()
    canvas.save()
    return out.getvalue()


def _cut_marks(canvas: Canvas) -> None:
    """Marks in the margins at every card edge, and faint dashed guides between cards."""
    canvas.saveState()
    canvas.setLineWidth(0.5)
    top, bottom = PAGE_H - MARGIN_TOP, MARGIN_BOTTOM
    left, right = MARGIN_X, PAGE_W - MARGIN_X
    for column in range(COLUMNS + 1):
        x = left + column * CARD_W
        canvas.line(x, top + 1 * mm, x, top + 1 * mm + MARK)
        canvas.line(x, bottom - 1 * mm, x, bottom - 1 * mm - MARK)
    for row in range(ROWS + 1):
        y = top - row * CARD_H
        canvas.line(left - 1 * mm, y, left - 1 * mm - MARK, y)
        canvas.line(right + 1 * mm, y, right + 1 * mm + MARK, y)
    canvas.setStrokeGray(0.75)
    canvas.setDash(2, 3)
    canvas.setLineWidth(0.3)
    for column in range(COLUMNS + 1):
        x = left + column * CARD_W
        canvas.line(x, bottom, x, top)
    for row in range(ROWS + 1):
        y = top - row * CARD_H
        canvas.line(left, y, right, y)
    canvas.restoreState()


def _card(canvas: Canvas, card: Card, x: float, y: float, font: str) -> None:
    inner_x, top = x + PAD, y + CARD_H - PAD
    width = CARD_W - 2 * PAD
    canvas.setFont(font, 15)
    canvas.drawString(inner_x, top - 15, TITLE)
    size = _fitting_size(card.community, font, 10, width, minimum=7)
    canvas.setFont(font, size)
    canvas.drawString(inner_x, top - 15 - 5 - size, _clip(card.community, font, size, width))
    rule_y = top - 15 - 5 - 10 - 3 * mm
    canvas.setLineWidth(0.6)
    canvas.line(inner_x, rule_y, x + CARD_W - PAD, rule_y)
    qr_top = rule_y - 2 * mm
    size_available = min(QR_SIZE, qr_top - (y + PAD))
    _qr(canvas, card.token, inner_x, qr_top - size_available, size_available)
    text_x = inner_x + size_available + 3 * mm
    text_w = x + CARD_W - PAD - text_x
    cursor = qr_top - 4 * mm
    name_size = _fitting_size(card.name, font, 18, text_w, minimum=11)
    canvas.setFont(font, name_size)
    cursor -= name_size
    canvas.drawString(text_x, cursor, _clip(card.name, font, name_size, text_w))
    cursor -= 4 * mm
    canvas.setFont(font, 11)
    for line in _wrap(card.room, font, 11, text_w, lines=3):
        cursor -= 11
        canvas.drawString(text_x, cursor, line)
        cursor -= 3
    canvas.setFont(font, 9)
    canvas.drawString(text_x, y + PAD + 12, f"发证日期 {card.issued_on:%Y-%m-%d}")
    if card.version > 1:
        canvas.drawString(text_x, y + PAD, f"第 {card.version} 版（旧卡作废）")


def _qr(canvas: Canvas, token: str, x: float, y: float, size: float) -> None:
    """The code as one filled path of dark runs, within a white quiet zone."""
    matrix = qr_matrix(token)
    modules = len(matrix) + 2 * QUIET
    unit = size / modules
    path = canvas.beginPath()
    for r, row in enumerate(matrix):
        row_y = y + size - (r + QUIET + 1) * unit
        c = 0
        while c < len(row):
            if not row[c]:
                c += 1
                continue
            start = c
            while c < len(row) and row[c]:
                c += 1
            path.rect(x + (start + QUIET) * unit, row_y, (c - start) * unit, unit)
    canvas.saveState()
    canvas.setFillGray(1)
    canvas.rect(x, y, size, size, stroke=0, fill=1)
    canvas.setFillGray(0)
    canvas.drawPath(path, stroke=0, fill=1)
    canvas.restoreState()


def _width(text: str, font: str, size: float) -> float:
    return pdfmetrics.stringWidth(text, font, size)


def _fitting_size(text: str, font: str, size: float, width: float, *,
                  minimum: float) -> float:
    while size > minimum and _width(text, font, size) > width:
        size -= 0.5
    return size


def _clip(text: str, font: str, size: float, width: float) -> str:
    if _width(text, font, size) <= width:
        return text
    while text and _width(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"


def _wrap(text: str, font: str, size: float, width: float, *, lines: int) -> list[str]:
    """`text` broken anywhere (Chinese has no spaces to break at) into at most `lines`
    lines, the last clipped."""
    out: list[str] = []
    current = ""
    for char in text:
        if current and _width(current + char, font, size) > width:
            out.append(current)
            current = ""
        current += char
    if current:
        out.append(current)
    if len(out) > lines:
        out = [*out[:lines - 1], _clip("".join(out[lines - 1:]), font, size, width)]
    return out
