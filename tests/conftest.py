"""Shared fixtures: a fixed data key, a small synthetic city, and named personas.

The suite runs on SQLite by default and on PostgreSQL when DATABASE_URL points at one
(`.ci/run` does both)."""

from __future__ import annotations

import pytest
from django.utils import translation

from tests.factories import City, build_city


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):  # noqa: ANN001, ANN201
    """Load the small synthetic city once per session; tests run in transactions on it."""
    with django_db_blocker.unblock():
        build_city()
    yield


@pytest.fixture(autouse=True)
def fresh_questionnaire_caches():
    """Parsed questionnaire versions are cached by id, which is safe in production (a
    version never changes) but not across tests: a version made in a rolled-back test
    leaves its id to the next test's version on SQLite."""
    from fangkong.followup.answers import rules_of, spec_of

    spec_of.cache_clear()
    rules_of.cache_clear()
    yield


@pytest.fixture
def city(db) -> City:  # noqa: ANN001
    return City.get()


@pytest.fixture
def grid_worker(city: City):
    return city.persona("grid_worker")


@pytest.fixture
def community_secretary(city: City):
    return city.persona("community_secretary")


@pytest.fixture
def street_officer(city: City):
    return city.persona("street_officer")


@pytest.fixture
def admin_user(city: City):
    return city.persona("admin")


@pytest.fixture
def other_grid_worker(city: City):
    """A grid worker of another grid (and community) than `grid_worker`."""
    return city.persona("other_grid_worker")


@pytest.fixture
def community_worker(city: City):
    return city.persona("community_worker")


@pytest.fixture
def volunteer(city: City):
    """The volunteer persona: a staff user with the volunteer role, no Volunteer record."""
    return city.persona("volunteer")


@pytest.fixture(autouse=True)
def _language_reset():
    """A request through LocaleMiddleware leaves its language active in the thread (a
    test client asking for English, say): every test starts in the default language."""
    yield
    translation.deactivate()


@pytest.fixture
def english():
    """For tests that assert messages in English (the interface's default is Chinese):
    `pytestmark = pytest.mark.usefixtures("english")`."""
    with translation.override("en"):
        yield
