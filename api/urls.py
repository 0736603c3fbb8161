from django.urls import path

from api import views

app_name = "integrations"
urlpatterns = [
    path("", views.keys, name="keys"),
    path("keys/", views.key_create, name="create"),
    path("keys/revoke/", views.key_revoke, name="revoke"),
]
