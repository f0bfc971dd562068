"""The Django admin is the back office for superusers only: staff accounts, areas, tags.
Staff of every role use the app itself, where the area scope applies; the admin has no
scope, so nobody else may enter it."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from fangkong.accounts.models import ApiToken, User


def superusers_only(request) -> bool:  # noqa: ANN001
    return bool(request.user.is_active and request.user.is_superuser)


admin.site.has_permission = superusers_only
admin.site.site_header = "fangkong"


@admin.register(User)
class StaffAdmin(UserAdmin):
    list_display = ("username", "full_name", "role", "area", "is_active", "last_login")
    list_filter = ("role", "is_active", "is_superuser")
    search_fields = ("username", "full_name")
    raw_id_fields = ("area",)
    fieldsets = (*UserAdmin.fieldsets, ("fangkong", {"fields": ("full_name", "role", "area")}))


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "expires_at", "revoked_at",
                    "last_used_at")
    readonly_fields = ("prefix", "digest", "created_at", "last_used_at")
