from django.urls import path

from fangkong.isolation import views

app_name = "isolation"
urlpatterns = [
    path("", views.period_list, name="list"),
    path("start/<int:resident_id>/", views.period_start, name="start"),
    path("<int:period_id>/", views.period_detail, name="period"),
]
