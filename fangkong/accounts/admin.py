"""The Django admin is the back office for superusers only: staff accounts, areas, tags.
Staff of every role use the app itself, where the area scope applies; the admin has no
scope, so nobody else may enter it."""

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.utils.translation import gettext as _

from fangkong.accounts.models import ApiToken, User
from fangkong.accounts.roles import ROLE_AREA_KINDS
from fangkong.audit.models import AuditAction
from fangkong.audit.services import audit_record, client_ip
from fangkong.places.models import AreaKind


class StaffChangeForm(UserChangeForm):
    def clean(self) -> dict:
        data = super().clean()
        role, area = data.get("role"), data.get("area")
        if role and area is None:
            raise forms.ValidationError(_("A staff member with a role needs an area."))
        if role and area is not None and area.kind not in ROLE_AREA_KINDS[role]:
            kinds = ", ".join(str(AreaKind(k).label) for k in sorted(ROLE_AREA_KINDS[role]))
            raise forms.ValidationError(
                _("This role works at this level: %(kinds)s.") % {"kinds": kinds})
        return data


def superusers_only(request) -> bool:  # noqa: ANN001
    return bool(request.user.is_active and request.user.is_superuser)


admin.site.has_permission = superusers_only
admin.site.site_header = "fangkong"


@admin.register(User)
class StaffAdmin(UserAdmin):
    form = StaffChangeForm
    list_display = ("username", "full_name", "role", "area", "is_active", "last_login")
    list_filter = ("role", "is_active", "is_superuser")
    search_fields = ("username", "full_name")
    raw_id_fields = ("area",)
    fieldsets = (*UserAdmin.fieldsets, ("fangkong", {"fields": ("full_name", "role", "area")}))

    def save_model(self, request, obj, form, change) -> None:  # noqa: ANN001
        super().save_model(request, obj, form, change)
        watched = {"role", "area", "is_active", "is_superuser"} & set(form.changed_data)
        if watched:
            audit_record(by=request.user, action=AuditAction.STAFF_CHANGE, object_type="user",
                         object_id=obj.pk, object_label=obj.username,
                         area_path=obj.area.path if obj.area_id else "",
                         changes={f: ["", str(form.cleaned_data.get(f))] for f in watched},
                         ip=client_ip(request))


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "expires_at", "revoked_at",
                    "last_used_at")
    readonly_fields = ("user", "name", "prefix", "digest", "created_at", "last_used_at")

    def has_add_permission(self, request) -> bool:  # noqa: ANN001
        return False  # tokens are shown once when made: `fangkong createtoken USER`
