from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts"

    def ready(self) -> None:
        from alerts.host_alerts import on_status_change
        from hosts.signals import status_changed

        status_changed.connect(on_status_change, dispatch_uid="alerts.host_alerts")
