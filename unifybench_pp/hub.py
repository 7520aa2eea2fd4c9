"""Whether the Hugging Face Hub can be reached, and going offline at once when it cannot.

Infrastructure shared by the scorers (which load models) and by `ubpp doctor` (which only checks where they
would load from): neither needs torch to ask.
"""

from __future__ import annotations

import functools
import os
import socket


@functools.cache
def _hub_unreachable() -> bool:
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
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return True
    if _hub_unreachable():
        # Some lookups (e.g. transformers' adapter_config.json probe once peft is installed) ignore
        # local_files_only and retry for half a minute; the library-wide switch stops them all.
        from huggingface_hub import constants

        constants.HF_HUB_OFFLINE = True
        return True
    return False
