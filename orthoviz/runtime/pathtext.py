"""A path typed by a user (``data_dir``, a run-folder reference) as the system will take
it: text the system refuses (a NUL, more than PATH_MAX characters, a part longer than the
file system allows) is a :class:`ConfigError` naming the parameter, not an ``OSError`` or
a ``ValueError("embedded null byte")`` from deep inside a reader."""

from __future__ import annotations

from pathlib import Path

from orthoviz.runtime.errors import ConfigError

#: the longest path text accepted (Linux's PATH_MAX)
MAX_PATH_CHARS = 4096


def path_text(text: str, parameter: str, allowed: str) -> str:
    """``text``, refused when the system could not take it as a path at all."""
    if "\x00" in text or len(text) > MAX_PATH_CHARS:
        raise ConfigError(parameter, text, allowed,
                          f"a path has at most {MAX_PATH_CHARS} characters and no NUL")
    return text


def looked_up(path: Path, parameter: str, text: str, allowed: str) -> Path:
    """``path`` once the system has looked it up: a name it refuses raises ConfigError;
    a path that does not exist is the caller's to report."""
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        pass
    except (OSError, ValueError) as e:
        raise ConfigError(parameter, text, allowed,
                          getattr(e, "strerror", None) or str(e)) from None
    return path
