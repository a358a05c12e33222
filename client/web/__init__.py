"""Pages this machine serves to a browser: a Starlette app on uvicorn, guarded (Host, Origin, token)."""
