"""
Log lines as JSON objects, one a line, with the same ``level`` (pino's numbers), ``time``,
``pid``, ``name`` and ``msg`` keys as the Node worker's (pino), so the same tools read both.
Extra fields travel in ``extra={"fields": {...}}``.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from .errors import ConfigError

# pino's numbers: 20 debug, 30 info, 40 warn, 50 error, 60 fatal.
_LEVELS = {
    logging.DEBUG: 20,
    logging.INFO: 30,
    logging.WARNING: 40,
    logging.ERROR: 50,
    logging.CRITICAL: 60,
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "level": _LEVELS.get(record.levelno, record.levelno),
            "time": int(record.created * 1000),
            "pid": record.process,
            "name": "blockrunner-worker-python",
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                entry.setdefault(str(key), value)
        if record.exc_info:
            entry["err"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, separators=(",", ":"))


#: LOG_LEVEL's values, as the Node worker takes them (README.md, "Configuration").
LEVEL_NAMES = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "fatal": logging.CRITICAL,
    "silent": logging.CRITICAL + 10,
}


def configure(level: str = "info") -> None:
    """
    Sends the ``blockrunner`` logger's lines to stdout as JSON, unless already configured.
    Raises ConfigError naming LOG_LEVEL for a level that is not one of LEVEL_NAMES.
    """
    if level not in LEVEL_NAMES:
        raise ConfigError(f'LOG_LEVEL: expected one of {", ".join(LEVEL_NAMES)}, got "{level}"')
    logger = logging.getLogger("blockrunner")
    if logger.handlers:
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(LEVEL_NAMES[level])
    logger.propagate = False


def now_ms() -> float:
    return time.monotonic() * 1000
