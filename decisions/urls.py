from django.urls import path

from decisions import views

app_name = "decisions"
urlpatterns = [
    path("runs/", views.runs, name="runs"),
    path("policy/", views.policy, name="policy"),
    path("audit/", views.audit, name="audit"),
    path("decisions/<int:decision_id>/", views.decision_detail, name="decision"),
]
