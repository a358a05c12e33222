"""Device-tier client: reads video, picks key frames, drives the services, writes video."""

import mvstylizer_common  # noqa: F401  (sets OpenCV's decode limit before anything loads OpenCV)
