"""Server-rendered administration pages: registry (devices), users, duty roster, audit log."""
