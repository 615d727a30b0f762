"""Reachability of the Hugging Face Hub, checked once per call with a short TCP connect.

The hub clients retry for a minute before giving up; an offline machine should hear "no network"
in seconds instead.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

__all__ = ["hub_reachable"]


def hub_reachable(timeout: float = 3.0) -> bool:
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        socket.create_connection(
            (url.hostname or "huggingface.co", url.port or 443), timeout=timeout
        ).close()
    except OSError:
        return False
    return True
