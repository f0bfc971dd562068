from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ErrandsConfig(AppConfig):
    name = "fangkong.errands"
    verbose_name = _("Errands and volunteers")
