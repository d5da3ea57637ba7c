"""Header links to the other pages (``nav.*``): :data:`dashboard.pages.alarms.NAV_LINKS`."""
from __future__ import annotations

CATALOG: dict[str, dict[str, str]] = {
    "zh": {
        "nav.wall": "大屏",
        "nav.snapshots": "周报",
        "nav.roster": "值班表",
        "nav.devices": "站点设备",
        "nav.admin": "系统管理",
    },
    "en": {
        "nav.wall": "Wall",
        "nav.snapshots": "Weekly",
        "nav.roster": "Roster",
        "nav.devices": "Devices",
        "nav.admin": "Admin",
    },
}
