"""The back office (Django admin) is for superusers only: see fangkong/accounts/admin.py."""

from django.contrib import admin

from fangkong.places.models import Area


@admin.register(Area)
class AreaAdmin(admin.ModelAdmin):
    list_display = ("path", "name", "kind", "code")
    list_filter = ("kind",)
    search_fields = ("name", "code", "path")
    readonly_fields = ("kind", "parent", "path", "depth")

    def has_add_permission(self, request) -> bool:  # noqa: ANN001
        # Areas are added with `fangkong addarea`, which keeps paths and depths right;
        # moving an area would need its residents' area columns rewritten too.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False
