from django.urls import path

from fangkong.rosters import views

app_name = "rosters"
urlpatterns = [
    path("", views.import_list, name="list"),
    path("template.xlsx", views.blank_template, name="blank"),
    path("<int:import_id>/", views.import_detail, name="detail"),
    path("<int:import_id>/encoding/", views.import_encoding, name="encoding"),
    path("<int:import_id>/mapping/", views.import_mapping, name="mapping"),
    path("<int:import_id>/commit/", views.import_commit, name="commit"),
    path("<int:import_id>/discard/", views.import_discard, name="discard"),
    path("<int:import_id>/cancel/", views.import_cancel, name="cancel"),
    path("<int:import_id>/undo/", views.import_undo, name="undo"),
    path("<int:import_id>/errors.xlsx", views.import_errors, name="errors"),
    path("export/<int:area_id>/", views.export, name="export"),
]
