"""The `fangkong` command and `fangkong createstaff`."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from fangkong.accounts.models import Role, User
from fangkong.cli import main
from fangkong.places.models import AreaKind

PASSWORD = "plum-river-7-lantern"


@pytest.fixture
def fast_hashing(settings):  # noqa: ANN001
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_cli_runs_djangos_check(capsys):
    main(["check"])
    assert "System check identified no issues" in capsys.readouterr().out


def test_cli_help_prints_fangkongs_own_commands(capsys):
    main(["--help"])
    out = capsys.readouterr().out
    assert "fangkong createstaff" in out
    assert "fangkong worker" in out


def _createstaff(monkeypatch, *args: str, password: str = PASSWORD, **options) -> str:  # noqa: ANN001, ANN003
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    out = io.StringIO()
    call_command("createstaff", *args, password_stdin=True, stdout=out, **options)
    return out.getvalue()


@pytest.mark.django_db
def test_createstaff_creates_a_grid_worker_by_area_path(city, monkeypatch, fast_hashing):
    grid = city.areas(AreaKind.GRID)[0]
    out = _createstaff(monkeypatch, "newgrid", role="grid_worker", area=grid.path,
                       name="新网格员")
    user = User.objects.get(username="newgrid")
    assert (user.role, user.area_id, user.full_name) == (Role.GRID_WORKER, grid.pk, "新网格员")
    assert user.check_password(PASSWORD)
    assert grid.path in out


@pytest.mark.django_db
def test_createstaff_finds_an_area_by_its_official_code(city, monkeypatch, fast_hashing):
    street = city.areas(AreaKind.STREET)[0]
    assert street.code
    _createstaff(monkeypatch, "newofficer", role="street_officer", area=street.code)
    assert User.objects.get(username="newofficer").area_id == street.pk


@pytest.mark.django_db
def test_createstaff_refuses_a_role_at_the_wrong_kind_of_area(city, monkeypatch,
                                                              fast_hashing):
    community = city.areas(AreaKind.COMMUNITY)[0]
    with pytest.raises(CommandError, match="area"):
        _createstaff(monkeypatch, "newgrid", role="grid_worker", area=community.path)
    assert not User.objects.filter(username="newgrid").exists()


@pytest.mark.django_db
def test_createstaff_refuses_an_unknown_area(city, monkeypatch, fast_hashing):
    with pytest.raises(CommandError, match="no area"):
        _createstaff(monkeypatch, "newgrid", role="grid_worker", area="999.999")
    assert not User.objects.filter(username="newgrid").exists()


@pytest.mark.django_db
def test_createstaff_refuses_an_ambiguous_area_name(city, monkeypatch, fast_hashing):
    grids = city.areas(AreaKind.GRID)
    assert len({g.name for g in grids}) < len(grids)  # "第1网格" in every community
    with pytest.raises(CommandError, match="several areas"):
        _createstaff(monkeypatch, "newgrid", role="grid_worker", area=grids[0].name)
    assert not User.objects.filter(username="newgrid").exists()


@pytest.mark.django_db
def test_createstaff_refuses_a_weak_password(city, monkeypatch, fast_hashing):
    grid = city.areas(AreaKind.GRID)[0]
    with pytest.raises(CommandError, match="password"):
        _createstaff(monkeypatch, "newgrid", role="grid_worker", area=grid.path,
                     password="12345")
    assert not User.objects.filter(username="newgrid").exists()


@pytest.mark.django_db
def test_createtoken_prints_a_token_that_authenticates_as_the_user(city):
    from fangkong.accounts.services import api_token_user

    out = io.StringIO()
    call_command("createtoken", "grid_worker", name="kiosk", stdout=out, stderr=io.StringIO())
    token = out.getvalue().strip()
    assert token.startswith("fk_")
    assert api_token_user(token) == User.objects.get(username="grid_worker")


@pytest.mark.django_db
def test_addarea_adds_a_grid_under_a_community_and_refuses_a_wrong_kind(city):
    community = city.areas(AreaKind.COMMUNITY)[0]
    out = io.StringIO()
    call_command("addarea", kind="grid", name="第9网格", parent=community.path, stdout=out)
    path = out.getvalue().split("\t")[0]
    assert path.startswith(community.path + ".")
    with pytest.raises(CommandError):
        call_command("addarea", kind="street", name="错街道", parent=community.path)


def test_bench_lists_its_benchmarks(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--help"])
    assert exit_info.value.code == 0
    assert "registry" in capsys.readouterr().out


def test_lines_says_what_to_set_without_a_trunk(settings):
    settings.SIP_TRUNK = ""
    with pytest.raises(CommandError, match="FANGKONG_SIP_TRUNK"):
        call_command("lines")


def test_lines_refuses_a_speech_recogniser_whose_model_is_missing(settings, tmp_path):
    from fangkong.followup.channels.voice import asr

    settings.SIP_TRUNK = "127.0.0.1:5060"
    settings.VOICE_ASR = "vosk"
    settings.VOICE_ASR_MODEL = str(tmp_path / "no-such-model")
    asr._load.cache_clear()
    try:
        with pytest.raises(CommandError, match="FANGKONG_VOICE_ASR"):
            call_command("lines")
    finally:
        asr._load.cache_clear()


def test_without_a_recogniser_the_operator_is_told_plainly(settings):
    from fangkong.followup.channels.voice import asr

    settings.VOICE_ASR = ""
    assert asr.configured() is None
    assert "no speech recogniser is configured" in asr.describe()
