"""Fixtures of the roster tests: the community secretary's community and its grid."""

from __future__ import annotations

import pytest

from fangkong.places.models import AreaKind


@pytest.fixture
def community(community_secretary):  # noqa: ANN001, ANN201
    return community_secretary.area


@pytest.fixture
def grid_name(city, community):  # noqa: ANN001, ANN201
    """The name of the (first) grid of the secretary's community."""
    return next(g for g in city.areas(AreaKind.GRID) if g.parent_id == community.pk).name
