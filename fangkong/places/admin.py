"""The back office (Django admin) is for superusers only: see fangkong/accounts/admin.py."""

from django.contrib import admin

from fangkong.places.models import Area


@admin.register(Area)
class AreaAdmin(admin.ModelAdmin):
    list_display = ("path", "name", "kind", "code")
    list_filter = ("kind",)
    search_fields = ("name", "code", "path")
    readonly_fields = ("path", "depth")
    raw_id_fields = ("parent",)
