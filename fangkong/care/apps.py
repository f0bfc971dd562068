from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CareConfig(AppConfig):
    name = "fangkong.care"
    verbose_name = _("Care for the workers")

    def ready(self) -> None:
        from fangkong.care import jobs  # noqa: F401 - registers the periodic job
