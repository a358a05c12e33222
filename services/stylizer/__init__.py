"""Edge tier: stylizes key frames (model registry, upsampling, gRPC adapter)."""
