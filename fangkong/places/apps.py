from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PlacesConfig(AppConfig):
    name = "fangkong.places"
    verbose_name = _("Areas and buildings")

    def ready(self) -> None:
        from fangkong.lib import lookups  # noqa: F401 - registers the __prefix lookup
