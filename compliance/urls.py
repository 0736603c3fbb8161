from django.urls import path

from compliance import views

app_name = "compliance"

urlpatterns = [
    path("", views.packs, name="packs"),
    path("<int:pack_id>/", views.pack_detail, name="pack"),
    path("<int:pack_id>/progress/", views.pack_progress, name="pack_progress"),
    path("<int:pack_id>/download/", views.pack_download, name="pack_download"),
]
