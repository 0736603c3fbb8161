from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from api.api import api
from desk import probes
from desk import views as desk_views

urlpatterns = [
    path("", desk_views.overview, name="overview"),
    path("my-work/", desk_views.my_work_page, name="my_work"),
    path("my-work/count/", desk_views.my_work_count, name="my_work_count"),
    # Answered by desk.probes.ProbeMiddleware first; listed for the access matrix.
    path("healthz", probes.healthz, name="healthz"),
    path("readyz", probes.readyz, name="readyz"),
    path("metrics", probes.metrics.metrics, name="metrics"),
    path("worker-status/", desk_views.worker_status, name="worker_status"),
    path("worker-status/check/", desk_views.worker_check, name="worker_check"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            redirect_authenticated_user=True,
            extra_context={"failure_limit": settings.AXES_FAILURE_LIMIT},
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("filters/save/", desk_views.saved_filter_save, name="saved_filter_save"),
    path(
        "filters/<int:filter_id>/delete/",
        desk_views.saved_filter_delete,
        name="saved_filter_delete",
    ),
    path("accounts/", include("desk.urls")),
    path("", include("decisions.urls")),
    path("appeals/", include("appeals.urls")),
    path("policy/", include("policies.urls")),
    path("", include("history.urls")),
    path("notices/", include("notices.urls")),
    path("integrations/", include("api.urls")),
    path("retention/", include("retention.urls")),
    path("audit/evidence/", include("compliance.urls")),
    path("api/v1/", api.urls),
    path("django-admin/", admin.site.urls),
]
