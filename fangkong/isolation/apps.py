from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IsolationConfig(AppConfig):
    name = "fangkong.isolation"
    verbose_name = _("Home isolation")

    def ready(self) -> None:
        from fangkong.isolation import jobs  # noqa: F401 - registers the periodic job
