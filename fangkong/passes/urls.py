from django.urls import path

from fangkong.passes import (
    figure_views,
    guard_views,
    log_views,
    manage_views,
    pass_views,
    print_views,
    resident_views,
    visitor_views,
)

app_name = "passes"
urlpatterns = [
    # The guard's pages (phone, one hand, gloves, night): their gates, the scanner.
    path("guard/", guard_views.my_gates, name="my_gates"),
    path("guard/<int:gate_id>/", guard_views.scan_page, name="scan"),
    path("guard/<int:gate_id>/check/", guard_views.check, name="check"),
    path("guard/<int:gate_id>/record/", guard_views.record, name="record"),
    path("guard/<int:gate_id>/find/", guard_views.find, name="find"),
    # Visitors (外来人员登记): registered by the guard; the visitor's code to leave.
    path("guard/<int:gate_id>/visitors/new/", visitor_views.visitor_new, name="visitor_new"),
    path("visitors/", visitor_views.visitors, name="visitors"),
    path("visitors/<int:visitor_id>/", visitor_views.visitor, name="visitor"),
    path("visitors/<int:visitor_id>/code.png", visitor_views.visitor_code_png,
         name="visitor_code_png"),
    # A community's gates: policy, who is on duty, devices.
    path("manage/<int:community_id>/", manage_views.gates, name="gates"),
    path("manage/gate/<int:gate_id>/", manage_views.gate, name="gate"),
    # The passage log (grid workers: their residents) and the gate figures.
    path("log/", log_views.passages, name="log"),
    path("figures/<int:area_id>/", figure_views.figures, name="figures"),
    # Passes of the registry: issue, re-issue, revoke; a building's printable sheet.
    path("resident/<int:resident_id>/", pass_views.resident_pass, name="resident_pass"),
    path("household/<int:household_id>/", pass_views.household_pass, name="household_pass"),
    path("building/<int:building_id>/passes.pdf", print_views.building_sheet,
         name="building_sheet"),
    # The resident's own pass: behind their signed link, or a login by phone and code.
    path("r/<str:token>/", resident_views.resident_pass_page, name="mine"),
    path("r/<str:token>/pass.png", resident_views.resident_pass_png, name="mine_png"),
    path("me/", resident_views.phone_login, name="phone_login"),
    path("me/code/", resident_views.phone_code, name="phone_code"),
    path("me/passes/", resident_views.phone_passes, name="phone_passes"),
]
