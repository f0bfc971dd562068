from django.contrib import admin

from fangkong.residents.models import Tag


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    """The editable list of tags. Residents themselves are edited in the app, through the
    services (validation, audit, figures), never here."""

    list_display = ("slug", "name", "name_en", "vulnerable", "sort_order")
    list_editable = ("name", "name_en", "vulnerable", "sort_order")
