from django.urls import path

from fangkong.places import views

app_name = "places"
urlpatterns = [
    path("", views.home, name="home"),
    path("areas/<int:area_id>/", views.area_detail, name="area"),
    path("buildings/<int:building_id>/", views.building_detail, name="building"),
    path("households/<int:household_id>/", views.household_detail, name="household"),
]
