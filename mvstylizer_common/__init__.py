"""Pieces shared by the client and both services: wire codecs, errors, gRPC options."""
