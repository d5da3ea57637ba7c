"""Strings of the staff-on-duty map layer (:mod:`layers.staff`; seed 001 table 7 在线服务)."""
from __future__ import annotations

CATALOG = {
    "zh": {
        "layers.staff": "在线服务人员",
        "legend.staff": "在线服务人员 / 专家",
        "staff.region": "地区",
        "staff.on_duty": "{n} 人在岗",
        "staff.roster_on_duty": "值班工程师",
        "staff.staff_online": "服务人员在线",
        "staff.experts_online": "厂家专家在线",
        "staff.legend.staff": "在岗人数（圆面积）",
        "staff.legend.experts": "含在线专家",
    },
    "en": {
        "layers.staff": "Staff online",
        "legend.staff": "Service staff / experts online",
        "staff.region": "Region",
        "staff.on_duty": "{n} on duty",
        "staff.roster_on_duty": "Engineers on duty",
        "staff.staff_online": "Service staff online",
        "staff.experts_online": "Experts online",
        "staff.legend.staff": "People on duty (circle area)",
        "staff.legend.experts": "Experts online among them",
    },
}
