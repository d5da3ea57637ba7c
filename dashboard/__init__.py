"""The command center's web side: app factory (:mod:`dashboard.app`), HTTP API (:mod:`dashboard.api`), Socket.IO
room handling (:mod:`dashboard.sockets`), the Redis → Socket.IO bridge (:mod:`dashboard.bridge`), page layout
(:mod:`dashboard.layout`) and the server entry point (:mod:`dashboard.web`)."""
