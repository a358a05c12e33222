"""Media in and out on the device: video files decoded and encoded, live sources (camera, paced file, synthetic)."""
