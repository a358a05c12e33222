"""Device tier: optical flow and key-frame interpolation (pure core + gRPC adapter)."""
