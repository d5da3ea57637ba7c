"""Everything that talks to the outside world: Modbus, Redis, SQL, importers, cameras.

May import :mod:`geo`; never imports :mod:`layers`, :mod:`callbacks` or :mod:`dashboard`.
"""
