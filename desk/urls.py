from django.urls import path

from desk import views

# The URL namespace names the URL space (/accounts/), not the Python package
# (docs/architecture.md, "URLs").
app_name = "accounts"
urlpatterns = [
    path("", views.account_list, name="list"),
    path("export.csv", views.account_export, name="export"),
    path("<str:reference>/", views.account_detail, name="detail"),
    path("<str:reference>/reveal/", views.account_reveal, name="reveal"),
    path("<str:reference>/timeline/", views.account_timeline, name="timeline"),
    path("<str:reference>/notes/", views.account_note, name="note"),
    path("<str:reference>/contacts/", views.account_contact, name="contact"),
    path("<str:reference>/override/", views.account_override, name="override"),
    path("<str:reference>/freeze/", views.account_freeze, name="freeze"),
    path("<str:reference>/rescore/", views.account_rescore, name="rescore"),
    path("<str:reference>/rescore/status/", views.account_rescore_status, name="rescore_status"),
    path(
        "<str:reference>/overrides/<int:request_id>/", views.override_decide, name="override_decide"
    ),
]
