"""Device-tier client: reads video, picks key frames, drives the services, writes video."""
