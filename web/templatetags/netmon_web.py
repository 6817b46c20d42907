from django import template

from web import formatting
from web.dashboard import acknowledgeable

register = template.Library()


@register.filter
def ago(value, now):
    """``{{ when|ago:now }}``: '5 min ago'."""
    return formatting.relative_time(value, now)


@register.filter
def exact(value):
    return formatting.exact_time(value)


@register.filter
def seconds(value):
    """``{{ 300|seconds }}``: '5 min'."""
    return formatting.duration(value)


@register.filter
def can_acknowledge(alert):
    return acknowledgeable(alert)


@register.filter
def field_errors(errors, name):
    """``{{ row.errors|field_errors:'timezone' }}``: the messages for one field."""
    return errors.get(name, []) if errors else []
