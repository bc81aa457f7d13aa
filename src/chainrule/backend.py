"""The array namespace under every primitive.

NumPy for now. Primitive implementations take their array functions from ``xp``
and never from ``numpy`` directly, so that another Array-API namespace (CuPy,
``array_api_strict``) can stand in later without touching the op modules.
"""

import numpy as xp

__all__ = ["xp"]
