from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RostersConfig(AppConfig):
    name = "fangkong.rosters"
    verbose_name = _("Roster import and export")

    def ready(self) -> None:
        # Job handlers register themselves on import.
        from fangkong.rosters import jobs  # noqa: F401
