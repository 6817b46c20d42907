from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts"

    def ready(self) -> None:
        from hosts.alerting import on_status_change
        from hosts.signals import status_changed

        status_changed.connect(on_status_change, dispatch_uid="hosts.alerting")
