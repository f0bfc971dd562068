from django.contrib import admin

from fangkong.jobs.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("pk", "kind", "state", "due_at", "attempts", "lease_owner", "finished_at")
    list_filter = ("state", "kind")
