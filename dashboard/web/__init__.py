"""The web process: app factory, HTTP API blueprints, the per-process services, the server entry."""
