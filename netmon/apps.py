from django.apps import AppConfig


class NetmonConfig(AppConfig):
    name = "netmon"
    verbose_name = "netmon"
