"""Live fan-out: Redis pub/sub to Socket.IO rooms, and the Socket.IO events pages send."""
