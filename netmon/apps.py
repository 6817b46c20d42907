from django.apps import AppConfig
from django.contrib.staticfiles.apps import StaticFilesConfig as DjangoStaticFilesConfig


class NetmonConfig(AppConfig):
    default = True  # the app's config, not the other one of this module
    name = "netmon"
    verbose_name = "netmon"

    def ready(self):
        from django.db.backends.signals import connection_created

        from netmon.data_files import tighten_sqlite_files

        # The SQLite database readable by netmon's user alone, in every process.
        connection_created.connect(tighten_sqlite_files, dispatch_uid="netmon-private-sqlite")


class StaticFilesConfig(DjangoStaticFilesConfig):
    """``django.contrib.staticfiles``, collecting nothing that no page serves.

    The API docs page is Swagger UI only: the sidecar package's ReDoc bundle (5 MB with
    its source map, twice that once compressed copies are made) would only fill the image.
    """

    ignore_patterns = [*DjangoStaticFilesConfig.ignore_patterns, "redoc"]
