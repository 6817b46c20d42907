"""The built-in rule analyser: no LLM needed, fast, and a cross-check when one is used.

Its rules are data since netmon 0.2: one YAML pack per service family in
``analysis/rule_packs/`` (and the operator's in ``ANALYSIS_RULES_DIR``), loaded and checked
by analysis/rule_loader.py and run by analysis/rule_engine.py. This module keeps the names
the rest of netmon imports.
"""

from analysis.rule_engine import RuleAnalyser, Tally, analyse, looks_like_ip, normal_ip

__all__ = ["RuleAnalyser", "Tally", "analyse", "looks_like_ip", "normal_ip"]
