"""Find credentials in URLs and in a DVC config, and name them without ever showing their value.

Pure functions on strings and on the dict DVC's own reader makes of a config file
(`dvc.config.Config.load_file`); `core.py` reads the file and refuses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

# option names of dvc-s3 and the other DVC remotes whose value is a secret
SECRET_OPTIONS = (
    "access_key_id", "secret_access_key", "session_token", "password", "passphrase", "token",
    "account_key", "sas_token", "client_secret", "connection_string", "gdrive_client_secret",
    "oss_key_id", "oss_key_secret", "sse_customer_key",
)  # fmt: skip
# words in a query parameter's name that make its value a credential (?access_key=, ?secret=)
SECRET_PARAM_WORDS = ("key", "secret", "token", "password", "passwd", "signature", "credential")
# sections of a DVC config named like `['remote "storage"']`
NAMED_SECTIONS = ("remote", "machine", "db")
MASK = "***"

# `scheme://user[:password]@`: up to an `@` before the first `/`, or `user:password@` where the
# password holds a `/` (pasted unencoded) and the part after the colon is not a port
USERINFO = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)"
    r"(?P<userinfo>[^/?#]*@|[^@/?#]*:(?!\d+(?:[/?#]|$))[^@?#]*@)"
)


def secret_param(name: str) -> bool:
    """Whether a URL query parameter of this name holds a credential."""
    word = unquote(name).lower().replace("-", "_")
    return word in ("sig", "pwd", "pass") or any(w in word for w in SECRET_PARAM_WORDS)


def url_credential(url: str) -> bool:
    """Whether `url` holds a credential: `user[:password]@` or a query parameter naming one."""
    if "://" not in url:
        return "@" in url  # `user:password@host` with the scheme left out
    query = url.partition("?")[2].partition("#")[0]
    params = (part.partition("=")[0] for part in query.split("&") if part)
    return bool(USERINFO.match(url)) or any(secret_param(p) for p in params)


def redact(url: str) -> str:
    """`url` with its userinfo and the values of credential query parameters replaced by ***."""
    if "://" not in url:
        return f"{MASK}@{url.rpartition('@')[2]}" if "@" in url else url
    url = USERINFO.sub(rf"\g<scheme>{MASK}@", url, count=1)
    base, mark, rest = url.partition("?")
    query, hash_, fragment = rest.partition("#")
    parts = [
        f"{name}={MASK}" if secret_param(name) else f"{name}{eq}{value}"
        for name, eq, value in (part.partition("=") for part in query.split("&"))
    ]
    return f"{base}{mark}{'&'.join(parts)}{hash_}{fragment}"


@dataclass(frozen=True)
class Secret:
    """One option of a DVC config that holds a credential; never its value."""

    kind: str  # the section: "remote", "core", ...
    name: str | None  # the remote's (machine's, db's) name in `['remote "NAME"']`, else None
    option: str
    in_url: bool = False  # a URL with userinfo or a key, not a secret option

    def key(self) -> str:
        """`'remote "storage"'.secret_access_key`, as the section is written in the file."""
        section = f"'{self.kind} \"{self.name}\"'" if self.name is not None else self.kind
        return f"{section}.{self.option}"

    def fix(self) -> str:
        """What to run so that git tracks no credential."""
        dotted = ".".join(p for p in (self.kind, self.name, self.option) if p is not None)
        if self.in_url:
            command = (
                f"dvc remote modify {self.name} {self.option} URL"
                if self.kind == "remote"
                else f"dvc config {dotted} URL"
            )
            return f"set the URL without it ({command}), the credential with --local"
        if self.kind == "remote":
            return f"move it: dvc remote modify --local {self.name} {self.option} ..."
        return f"move it: dvc config --local {dotted} ..."


def config_secrets(conf: dict[str, Any]) -> list[Secret]:
    """Every credential in a DVC config as `Config.load_file` returns it (named sections nested:
    {"remote": {"storage": {...}}, "core": {...}})."""
    found = []
    for kind, section in conf.items():
        if not isinstance(section, dict):
            continue
        named = section.items() if kind in NAMED_SECTIONS else [(None, section)]
        for name, options in named:
            if isinstance(options, dict):
                found += [s for o, v in options.items() if (s := secret(kind, name, o, v))]
    return found


def secret(kind: str, name: str | None, option: str, value: Any) -> Secret | None:
    values = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    if option in SECRET_OPTIONS and any(values):
        return Secret(kind, name, option)
    if any("://" in v and url_credential(v) for v in values):
        return Secret(kind, name, option, in_url=True)
    return None
