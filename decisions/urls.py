from django.urls import path

from decisions import views

app_name = "decisions"
urlpatterns = [
    path("runs/", views.runs, name="runs"),
    path("runs/start/", views.run_start, name="run_start"),
    path("runs/<int:run_id>/", views.run_detail, name="run"),
    path("runs/<int:run_id>/progress/", views.run_progress, name="run_progress"),
    path("runs/<int:run_id>/decide/", views.run_decide, name="run_decide"),
    path("runs/<int:run_id>/revert/", views.run_revert, name="run_revert"),
    path("runs/<int:run_id>/retry/", views.run_retry, name="run_retry"),
    path("audit/", views.audit, name="audit"),
    path("audit/decisions.csv", views.audit_export, name="audit_export"),
    path("audit/reveals.csv", views.reveals_export, name="reveals_export"),
    path("decisions/<int:decision_id>/", views.decision_detail, name="decision"),
]
