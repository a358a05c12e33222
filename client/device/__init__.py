"""The device tier's own work: key-frame selection and interpolation (in process or through the service)."""
