"""Moved to :mod:`analysis.log_config` (the log source of a host lives in ``analysis``).

Kept because migration ``hosts.0001_initial`` refers to the validator by this path.
"""

from analysis.log_config import validate_log_analysis_config

__all__ = ["validate_log_analysis_config"]
