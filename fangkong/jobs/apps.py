from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class JobsConfig(AppConfig):
    name = "fangkong.jobs"
    verbose_name = _("Background jobs")

    def ready(self) -> None:
        # Handlers register themselves on import.
        from fangkong.jobs import handlers  # noqa: F401
