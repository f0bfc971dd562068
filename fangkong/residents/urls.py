from django.urls import path

from fangkong.residents import views

app_name = "residents"
urlpatterns = [
    path("", views.resident_list, name="list"),
    path("<int:resident_id>/", views.resident_detail, name="detail"),
    path("<int:resident_id>/edit/", views.resident_edit, name="edit"),
    path("<int:resident_id>/reveal/<str:what>/", views.resident_reveal_view, name="reveal"),
    path("<int:resident_id>/proxies/", views.resident_proxy_add, name="proxy_add"),
    path("new/<int:household_id>/", views.resident_new, name="new"),
]
