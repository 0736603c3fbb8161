"""Pages of the portfolio history. Included at the site's root: each path is written
out in full (the back-test and the readout sit beside the policy pages)."""

from django.urls import path

from history import views

app_name = "history"
urlpatterns = [
    path("policy/v<int:version>/backtests/", views.backtest_start, name="backtest_start"),
    path(
        "policy/v<int:version>/backtests/<int:backtest_id>/",
        views.backtest_detail,
        name="backtest",
    ),
    path(
        "policy/v<int:version>/backtests/<int:backtest_id>/panel/",
        views.backtest_panel,
        name="backtest_panel",
    ),
    path("policy/rollout/readout/", views.readout, name="readout"),
    path("monitoring/", views.monitoring, name="monitoring"),
    path(
        "monitoring/alerts/<int:alert_id>/acknowledge/",
        views.acknowledge_alert,
        name="acknowledge_alert",
    ),
]
