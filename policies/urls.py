from django.urls import path

from policies import views

app_name = "policies"
urlpatterns = [
    path("", views.index, name="index"),
    path("new/", views.draft_new, name="new"),
    path("rollout/", views.rollout, name="rollout"),
    path("kill-switch/", views.kill_switch, name="kill_switch"),
    path("v<int:version>/", views.version_detail, name="version"),
    path("v<int:version>/edit/", views.draft_save, name="save"),
    path("v<int:version>/simulate/", views.simulate, name="simulate"),
    path("v<int:version>/simulation/", views.simulation_panel, name="simulation"),
    path(
        "v<int:version>/simulations/<int:simulation_id>/retry/",
        views.simulation_retry,
        name="simulation_retry",
    ),
    path("v<int:version>/submit/", views.submit, name="submit"),
    path("v<int:version>/review/", views.review, name="review"),
]
