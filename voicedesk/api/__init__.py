"""The HTTP service: FastAPI app factory, routes per resource, the web page."""
