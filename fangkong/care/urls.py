from django.urls import path

from fangkong.care import pay_views, rota_views, views, workload_views

app_name = "care"
urlpatterns = [
    # Difficulties
    path("", views.mine, name="mine"),
    path("inbox/", views.inbox, name="inbox"),
    path("<int:difficulty_id>/", views.difficulty_detail, name="difficulty"),
    path("area/<int:area_id>/", views.area_dashboard, name="area"),
    path("officers/", views.officers, name="officers"),
    path("officers/<int:street_id>/", views.street_officers, name="street_officers"),
    # The A/B shift rota
    path("shifts/", rota_views.my_shifts, name="my_shifts"),
    path("shifts/<int:assignment_id>/swap/", rota_views.swap_ask, name="swap_ask"),
    path("swaps/<int:swap_id>/", rota_views.swap_detail, name="swap"),
    path("rota/", rota_views.communities, name="rota_communities"),
    path("rota/<int:area_id>/", rota_views.board, name="rota"),
    path("rota/<int:area_id>/setup/", rota_views.setup, name="rota_setup"),
    path("rota/plan/<int:plan_id>/", rota_views.plan_detail, name="plan"),
    # Workload
    path("workload/<int:area_id>/", workload_views.workload, name="workload"),
    # Allowances and insurance
    path("allowances/rules/", pay_views.allowance_rules, name="allowance_rules"),
    path("allowances/<int:area_id>/", pay_views.ledger, name="ledger"),
    path("insurance/", pay_views.my_insurance, name="my_insurance"),
    path("insurance/<int:area_id>/", pay_views.insurance, name="insurance"),
]
