"""The two services: the edge-tier stylizer and the device-tier interpolator."""
