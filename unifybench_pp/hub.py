"""Whether the Hugging Face Hub can be reached, and going offline at once when it cannot.

Infrastructure shared by the scorers (which load models) and by `ubpp doctor` (which only checks where they
would load from): neither needs torch to ask.
"""

from __future__ import annotations

import functools
import os
import socket

PROXY_SETTINGS = ("HF_ENDPOINT", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
"""A mirror or a proxy: the Hub is reached through it, which a direct connection cannot test."""


def offline_by_setting() -> bool:
    """Whether the user switched the Hub off (HF_HUB_OFFLINE)."""
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


@functools.cache
def _hub_unreachable() -> bool:
    if any(os.environ.get(name) for name in PROXY_SETTINGS):
        return False  # the libraries go through it and say themselves what failed
    try:
        socket.create_connection(("huggingface.co", 443), timeout=2).close()
    except OSError:
        return True
    return False


def go_offline_if_hub_unreachable() -> bool:
    """Whether loaders must use the local cache only; switches the whole process offline when the Hub is unreachable.

    Without this, a missing model costs a minute of download retries before the
    metric can be reported as not computed. The switch is process-wide
    (huggingface_hub's HF_HUB_OFFLINE) and stays on.
    """
    if offline_by_setting():
        return True
    if _hub_unreachable():
        # Some lookups (e.g. transformers' adapter_config.json probe once peft is installed) ignore
        # local_files_only and retry for half a minute; the library-wide switch stops them all.
        from huggingface_hub import constants

        constants.HF_HUB_OFFLINE = True
        return True
    return False
