"""What every netmon process logs and how: the format, and the filters of netmon/settings.py's
``LOGGING``.

Standard library only: the logging configuration is built before Django's apps load.
"""

import logging

HEALTH_PATH = "/api/v1/health"
# Every netmon process logs its lines this way: Django's and the supervisor's alike.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class UnhealthyReportFilter(logging.Filter):
    """Drop Django's "ERROR … Service Unavailable: /api/v1/health" lines.

    Django logs every 5xx answer as an error, but a 503 from the health report is the
    report doing its job — the task cluster or monitor loop is not (yet) running, as at
    every start until all roles are up — not a failure of the server. Container engines
    ask every few seconds, so each start would log errors that are none; what is down is
    in the report itself and in serve's own log lines.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        return not (
            getattr(record, "status_code", None) == 503
            and getattr(request, "path", None) == HEALTH_PATH
        )
