from django.contrib import admin
from django.urls import include, path
from django.views.i18n import set_language

from fangkong.api.router import api
from fangkong.places.health import healthz

urlpatterns = [
    path("", include("fangkong.places.urls")),
    path("residents/", include("fangkong.residents.urls")),
    path("accounts/", include("fangkong.accounts.urls")),
    path("audit/", include("fangkong.audit.urls")),
    path("rosters/", include("fangkong.rosters.urls")),
    path("", include("fangkong.followup.urls")),
    path("isolation/", include("fangkong.isolation.urls")),
    path("care/", include("fangkong.care.urls")),
    path("errands/", include("fangkong.errands.urls")),
    path("gates/", include("fangkong.passes.urls")),
    path("i18n/setlang/", set_language, name="set_language"),
    path("api/", api.urls),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]
