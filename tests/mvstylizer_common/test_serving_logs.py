import json
import logging

from mvstylizer_common.serving import JsonLogFormatter


def test_json_log_lines_carry_level_logger_message_and_exception():
    record = logging.LogRecord("stylizer", logging.WARNING, __file__, 1, "session %s closed", ("s1",), None)
    entry = json.loads(JsonLogFormatter().format(record))
    assert entry["level"] == "warning" and entry["logger"] == "stylizer" and entry["message"] == "session s1 closed"
    assert "T" in entry["time"] and "exception" not in entry
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert "ValueError: boom" in json.loads(JsonLogFormatter().format(failed))["exception"]
