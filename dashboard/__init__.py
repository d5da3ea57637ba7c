"""The command center's web side: app factory (:mod:`dashboard.web.app`), HTTP API (:mod:`dashboard.web.api`), Socket.IO
room handling (:mod:`dashboard.live.sockets`), the Redis → Socket.IO bridge (:mod:`dashboard.live.bridge`), page layout
(:mod:`dashboard.pages.layout`) and the server entry point (:mod:`dashboard.web.server`)."""
