"""The customer notices' pages (docs/architecture.md, "Notices: timeliness")."""

from django.urls import path

from notices import views

app_name = "notices"
urlpatterns = [
    path("", views.timeliness, name="timeliness"),
    path("dead-letters/", views.dead_letters, name="dead_letters"),
    path("<int:notice_id>/retry/", views.retry, name="retry"),
]
