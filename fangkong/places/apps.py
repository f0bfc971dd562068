from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PlacesConfig(AppConfig):
    name = "fangkong.places"
    verbose_name = _("Areas and buildings")
