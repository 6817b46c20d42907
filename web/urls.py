from django.contrib.auth import views as auth_views
from django.urls import path
from django.views.generic import RedirectView

from web.views import channels, config, dashboard, host, log_source

app_name = "web"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="web:dashboard"), name="home"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            template_name="web/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/dashboard", dashboard.dashboard, name="dashboard"),
    path("api/v1/dashboard/data", dashboard.dashboard_data, name="dashboard-data"),
    path("api/v1/dashboard/hosts/<str:host_id>", host.host_detail, name="host-detail"),
    path("api/v1/dashboard/alerts/<int:pk>/ack", dashboard.acknowledge, name="alert-ack"),
    path("api/v1/config", config.config_page, name="config"),
    path("api/v1/config/hosts", config.add_host, name="config-add"),
    path("api/v1/config/hosts/<str:host_id>", config.save_host, name="config-save"),
    path("api/v1/config/hosts/<str:host_id>/delete", config.delete_host, name="config-delete"),
    path(
        "api/v1/config/hosts/<str:host_id>/rotate-token",
        config.rotate_token,
        name="config-rotate",
    ),
    path(
        "api/v1/config/hosts/<str:host_id>/log-source",
        log_source.log_source,
        name="log-source",
    ),
    path(
        "api/v1/config/hosts/<str:host_id>/log-source/test",
        log_source.test_connection,
        name="log-source-test",
    ),
    path(
        "api/v1/config/hosts/<str:host_id>/log-source/run",
        log_source.run_now,
        name="log-source-run",
    ),
    path("api/v1/config/log-source", log_source.choose_host, name="log-source-new"),
    path("api/v1/config/channels", channels.channel_list, name="channels"),
    path("api/v1/config/channels/new", channels.channel_edit, name="channel-add"),
    path("api/v1/config/channels/<int:pk>", channels.channel_edit, name="channel-edit"),
    path("api/v1/config/channels/<int:pk>/test", channels.channel_test, name="channel-test"),
    path(
        "api/v1/config/channels/<int:pk>/enabled",
        channels.channel_toggle,
        name="channel-toggle",
    ),
    path("api/v1/config/channels/<int:pk>/repair", channels.channel_repair, name="channel-repair"),
    path("api/v1/config/channels/<int:pk>/delete", channels.channel_delete, name="channel-delete"),
    path("api/v1/config/import", config.import_preview, name="config-import"),
    path("api/v1/config/import/apply", config.import_apply, name="config-import-apply"),
    path("api/v1/config/export", config.export, name="config-export"),
]
