"""Links to the services: gRPC channels, the stylizer session, the interpolator service, services started here."""
