"""A community set up for the rota: a gate with two shifts, a night watch, an office
shift that needs a skill nobody has unless asked, and eight staff in teams A and B."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from fangkong.accounts.models import Role, User
from fangkong.care import rota_services
from fangkong.care.models import Post, PostKind, PostShift, RotaMember
from fangkong.places.models import Area

FIRST_DAY = date(2026, 12, 2)  # the day after the pinned clock's today (a Wednesday)


@dataclass
class RotaCommunity:
    community: Area
    secretary: User
    gate: Post
    day: PostShift
    evening: PostShift
    night: PostShift
    members: list[RotaMember]

    def user(self, n: int) -> User:
        return self.members[n].user


def rota_community(secretary: User, *, staff: int = 8) -> RotaCommunity:
    community = secretary.area
    gate = rota_services.post_add(community=community, name="东门卡口", kind=PostKind.GATE,
                                  by=secretary)
    day = rota_services.post_shift_add(post=gate, name="白班", start_hour=8, end_hour=16,
                                       people=1, skill="", by=secretary)
    evening = rota_services.post_shift_add(post=gate, name="晚班", start_hour=16, end_hour=24,
                                           people=1, skill="", by=secretary)
    watch = rota_services.post_add(community=community, name="夜间值守", kind=PostKind.NIGHT,
                                   by=secretary)
    night = rota_services.post_shift_add(post=watch, name="夜班", start_hour=0, end_hour=8,
                                         people=1, skill="", by=secretary)
    members = []
    for i in range(staff):
        user = User.objects.create(username=f"rota{i}", role=Role.COMMUNITY_WORKER,
                                   area=community, full_name=f"值班员{i}")
        members.append(rota_services.member_add(
            community=community, user=user, team="A" if i % 2 == 0 else "B",
            kind="cadre" if i < 3 else "worker", skills="", avoid_shifts="", by=secretary))
    return RotaCommunity(community=community, secretary=secretary, gate=gate, day=day,
                         evening=evening, night=night, members=members)
