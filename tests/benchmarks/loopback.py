"""The benchmarks and soak runs talk to emulators on loopback, never through a proxy."""

from __future__ import annotations

import os


def drop_proxy_variables() -> None:
    """Remove every ``*_proxy`` variable from this process's environment (children included).

    The harvester, curl and aria2c all honour ``http_proxy``; on a machine that sets it
    without ``127.0.0.1`` in ``no_proxy`` each would send its requests to the proxy, and the
    figures would time the proxy (or fail) instead of the engines.
    """
    for name in [name for name in os.environ if name.lower().endswith("_proxy")]:
        del os.environ[name]
