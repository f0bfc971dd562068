from django.urls import path

from fangkong.followup import views
from fangkong.followup.channels.sms import views as sms_views
from fangkong.followup.channels.web import views as web_views

app_name = "followup"
urlpatterns = [
    path("f/<str:token>/", web_views.answer, name="answer"),
    path("followup/sms/inbound", sms_views.inbound, name="sms_inbound"),
    path("followup/sms/report", sms_views.report, name="sms_report"),
    path("followup/alerts/", views.alert_list, name="alerts"),
    path("followup/alerts/<int:alert_id>/", views.alert_detail, name="alert"),
    path("followup/visits/", views.visit_list, name="visits"),
    path("followup/residents/<int:resident_id>/", views.resident_record, name="resident"),
    path("followup/visits/<int:contact_id>/", views.visit_record, name="visit"),
    path("followup/campaigns/", views.campaign_list, name="campaigns"),
    path("followup/campaigns/new/", views.campaign_new, name="campaign_new"),
    path("followup/campaigns/<int:campaign_id>/", views.campaign_detail, name="campaign"),
    path("followup/campaigns/<int:campaign_id>/day/", views.day_table, name="day"),
    path("followup/campaigns/<int:campaign_id>/day/export/", views.day_export,
         name="day_export"),
    path("followup/campaigns/<int:campaign_id>/<str:action>/", views.campaign_run,
         name="campaign_run"),
    path("followup/rounds/<int:round_id>/", views.round_table, name="round"),
    path("followup/rounds/<int:round_id>/export/", views.round_export, name="round_export"),
]
