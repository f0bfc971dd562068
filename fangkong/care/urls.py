from django.urls import path

from fangkong.care import views

app_name = "care"
urlpatterns = [
    path("", views.mine, name="mine"),
    path("inbox/", views.inbox, name="inbox"),
    path("<int:difficulty_id>/", views.difficulty_detail, name="difficulty"),
    path("area/<int:area_id>/", views.area_dashboard, name="area"),
    path("officers/", views.officers, name="officers"),
    path("officers/<int:street_id>/", views.street_officers, name="street_officers"),
]
