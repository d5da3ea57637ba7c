"""The Redis bus: channels, keys and message schema, and the private Redis server."""
