from django.urls import path

from fangkong.followup import alert_views, setup_views, views, voice_views
from fangkong.followup.channels.sms import views as sms_views
from fangkong.followup.channels.web import views as web_views

app_name = "followup"
urlpatterns = [
    path("f/<str:token>/", web_views.answer, name="answer"),
    path("b/<str:token>/", web_views.checkin, name="checkin"),
    path("followup/buildings/<int:building_id>/qr.svg", web_views.building_qr,
         name="building_qr"),
    path("followup/buildings/<int:building_id>/qr/", web_views.building_qr_sheet,
         name="building_qr_sheet"),
    path("followup/sms/inbound", sms_views.inbound, name="sms_inbound"),
    path("followup/sms/report", sms_views.report, name="sms_report"),
    path("followup/alerts/", alert_views.alert_list, name="alerts"),
    path("followup/alerts/<int:alert_id>/", alert_views.alert_detail, name="alert"),
    path("followup/visits/", alert_views.visit_list, name="visits"),
    path("followup/residents/<int:resident_id>/", alert_views.resident_record, name="resident"),
    path("followup/visits/<int:contact_id>/", alert_views.visit_record, name="visit"),
    path("followup/campaigns/", views.campaign_list, name="campaigns"),
    path("followup/questionnaires/", setup_views.questionnaire_list, name="questionnaires"),
    path("followup/questionnaires/new/", setup_views.questionnaire_edit, name="questionnaire_new"),
    path("followup/questionnaires/<int:questionnaire_id>/", setup_views.questionnaire_detail,
         name="questionnaire"),
    path("followup/questionnaires/<int:questionnaire_id>/edit/", setup_views.questionnaire_edit,
         name="questionnaire_edit"),
    path("followup/campaigns/new/", views.campaign_new, name="campaign_new"),
    path("followup/robot/", setup_views.robot_settings, name="robot"),
    path("followup/robot/test/", setup_views.robot_test, name="robot_test"),
    path("followup/campaigns/<int:campaign_id>/", views.campaign_detail, name="campaign"),
    path("followup/campaigns/<int:campaign_id>/day/", views.day_table, name="day"),
    path("followup/campaigns/<int:campaign_id>/day/export/", views.day_export,
         name="day_export"),
    path("followup/campaigns/<int:campaign_id>/<str:action>/", views.campaign_run,
         name="campaign_run"),
    path("followup/rounds/<int:round_id>/", views.round_table, name="round"),
    path("followup/rounds/<int:round_id>/export/", views.round_export, name="round_export"),
    path("followup/recordings/", voice_views.recording_list, name="recordings"),
    path("followup/recordings/<int:recording_id>/audio.wav", voice_views.recording_audio,
         name="recording_audio"),
    path("followup/recordings/<int:recording_id>/check/", voice_views.recording_check,
         name="recording_check"),
    path("followup/voice/", voice_views.voice_ops, name="voice_ops"),
]
