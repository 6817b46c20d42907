from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured


class AnalysisConfig(AppConfig):
    name = "analysis"
    verbose_name = "Log analysis"

    def ready(self) -> None:
        # The rule packs (shipped and ANALYSIS_RULES_DIR) are checked at start: a broken
        # pack stops netmon with its file and line instead of silently detecting less.
        from analysis import rule_loader

        try:
            rule_loader.active()
        except rule_loader.RulePackError as error:
            raise ImproperlyConfigured(f"ANALYSIS_RULES_DIR: {error}") from None
