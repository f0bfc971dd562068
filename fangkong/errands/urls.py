from django.urls import path

from fangkong.errands import (
    batch_views,
    figure_views,
    helper_views,
    resident_views,
    views,
    volunteer_views,
)

app_name = "errands"
urlpatterns = [
    # Workers of the area: the queue, one errand, asking for one on a resident's behalf.
    path("", views.queue, name="queue"),
    path("<int:errand_id>/", views.errand_detail, name="errand"),
    path("<int:errand_id>/photo/", views.photo, name="photo"),
    path("new/<int:resident_id>/", views.errand_new, name="new"),
    # The helper given an errand (a volunteer or a worker): only what the task needs.
    path("tasks/", helper_views.tasks, name="tasks"),
    path("tasks/<int:errand_id>/", helper_views.task, name="task"),
    # Volunteers: registration through the community's link, verification.
    path("volunteers/", volunteer_views.volunteers, name="volunteers"),
    path("volunteers/<int:volunteer_id>/", volunteer_views.volunteer, name="volunteer"),
    path("join/<str:token>/", volunteer_views.join, name="join"),
    # Batching: shopping lists per pharmacy or supplier; garbage rounds per building.
    path("lists/", batch_views.shopping_lists, name="lists"),
    path("garbage/", batch_views.garbage, name="garbage"),
    path("garbage/<int:building_id>/", batch_views.garbage_round, name="garbage_round"),
    # The resident's own page (a signed link: from the follow-up form, SMS, the pass).
    path("r/<str:token>/", resident_views.resident_page, name="resident"),
    # Figures of an area and their export.
    path("figures/<int:area_id>/", figure_views.figures, name="figures"),
]
