from django.urls import path

from appeals import views

app_name = "appeals"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("claim/", views.claim_next, name="claim"),
    path("sla/", views.sla_targets, name="sla"),
    path("bulk/", views.bulk, name="bulk"),
    path("export.csv", views.queue_export, name="export"),
    path("handlers/", views.handlers, name="handlers"),
    path("overturns/", views.overturns, name="overturns"),
    path("<int:appeal_id>/snooze/", views.snooze, name="snooze"),
    path("<int:appeal_id>/close/", views.close, name="close"),
    path("<int:appeal_id>/", views.detail, name="detail"),
    path("<int:appeal_id>/move/", views.move, name="move"),
    path("<int:appeal_id>/assign/", views.assign, name="assign"),
    path("<int:appeal_id>/decide/", views.decide, name="decide"),
    path("<int:appeal_id>/approve/", views.approve_outcome, name="approve"),
    path("new/<str:reference>/", views.intake, name="intake"),
    path("new/<str:reference>/review/", views.review_request, name="review_request"),
    path("<int:appeal_id>/evidence/", views.evidence_upload, name="evidence_upload"),
    path("evidence/<int:evidence_id>/", views.evidence_file, name="evidence_file"),
]
