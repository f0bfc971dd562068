from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PassesConfig(AppConfig):
    name = "fangkong.passes"
    verbose_name = _("Gates and passes")

    def ready(self) -> None:
        from fangkong.passes import jobs  # noqa: F401 - registers the periodic job
