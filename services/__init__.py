"""The two services: the edge-tier stylizer and the device-tier interpolator."""

import mvstylizer_common  # noqa: F401  (sets OpenCV's decode limit before anything loads OpenCV)
