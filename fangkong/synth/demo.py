"""The demo: a city of about 20,000 residents and one login per role."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from django.conf import settings
from django.db import transaction

from fangkong.accounts.models import Role, User
from fangkong.accounts.services import staff_create
from fangkong.places.models import Area, AreaKind
from fangkong.synth.city import CitySpec

DEMO_SPEC = CitySpec(residents=20_000, seed=2020, streets=2, communities=8, districts=1)

# username -> (role, kind of area, display name). The first area of each kind is used.
DEMO_STAFF = [
    ("admin", Role.ADMIN, AreaKind.CITY, "王主任"),
    ("street", Role.STREET_OFFICER, AreaKind.STREET, "李科长"),
    ("secretary", Role.COMMUNITY_SECRETARY, AreaKind.COMMUNITY, "张书记"),
    ("worker", Role.COMMUNITY_WORKER, AreaKind.COMMUNITY, "刘社工"),
    ("grid", Role.GRID_WORKER, AreaKind.GRID, "陈网格员"),
    ("guard", Role.GATE_GUARD, AreaKind.COMMUNITY, "赵师傅"),
    ("volunteer", Role.VOLUNTEER, AreaKind.COMMUNITY, "周志愿者"),
]


def logins_file() -> Path:
    return Path(settings.VAR_DIR) / "demo-logins.json"


@transaction.atomic
def demo_staff_create() -> dict[str, str]:
    """Create the demo logins with fresh random passwords, kept in var/ (mode 0600)."""
    logins: dict[str, str] = {}
    for username, role, kind, name in DEMO_STAFF:
        password = "demo-" + secrets.token_urlsafe(6)
        area = Area.objects.filter(kind=kind).order_by("path").first()
        staff_create(username=username, password=password, role=role, area=area,
                     full_name=name, check_password=False)
        logins[username] = password
    password = "demo-" + secrets.token_urlsafe(6)
    User.objects.create_superuser(username="root", password=password, full_name="系统管理员")
    logins["root"] = password
    path = logins_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(logins, handle, ensure_ascii=False, indent=1)
    return logins


def demo_logins() -> dict[str, str]:
    path = logins_file()
    return json.loads(path.read_text()) if path.exists() else {}
