from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FollowupConfig(AppConfig):
    name = "fangkong.followup"
    verbose_name = _("Follow-up")

    def ready(self) -> None:
        from fangkong.followup import jobs  # noqa: F401 - registers handlers and the tick
