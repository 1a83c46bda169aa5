"""The Jupyter server extension: REST API, job store, monitor and passthrough."""
