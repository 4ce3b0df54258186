"""The rule-set editor's form <-> the rule-set document of accrual.md, and validation messages in place.

Form fields are flat names: ``base_percent``, ``redemption.max_percent``,
``time_rules-2-to_hour``, ``categories-0-name``, ... (rows are numbered as
shown). :func:`document` builds the JSON document from a posted form;
:func:`form_values` does the reverse for showing it; :func:`field_of` maps a
problem's JSON path from ``shared.rules.parse_rules``
(``time_rules[2].to_hour``, ``categories.SUSHI.k``) to the field that shows
it, so every message lands beside its input. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from shared.numbers import is_whole

from .formats import format_minor, parse_minor
from .text import _

SECTIONS = ("time_rules", "receipt_tiers", "categories", "category_groups", "products")
TIME_RULE_TYPES = ("date", "weekdays_hours", "weekdays", "hours")
REDEMPTION = ("max_percent", "reduced_max_percent", "discount_threshold_percent")
_ROW = re.compile(r"\A(\w+)-(\d+)-(\w+)\Z")


def _decimal(text: Any) -> str:
    """A typed percent or coefficient ("1,5" -> "1.5"), left for parse_rules to check."""
    return str(text or "").strip().replace(",", ".").replace(" ", "")


def rows(form: Any, section: str) -> list[dict[str, Any]]:
    """The posted rows of a section, in order, without the ones marked for deletion or left blank."""
    found: dict[int, dict[str, Any]] = {}
    for key in form.keys():
        match = _ROW.match(key)
        if match and match.group(1) == section:
            index, name = int(match.group(2)), match.group(3)
            values = form.getlist(key) if hasattr(form, "getlist") else [form[key]]
            found.setdefault(index, {"_index": index})[name] = values if name in ("weekdays",) else values[0]
    out = []
    for index in sorted(found):
        row = found[index]
        if row.get("delete"):
            continue
        if not any(str(v).strip() for k, v in row.items() if k not in ("_index", "type", "redeemable", "weekdays")):
            continue  # an empty row added and left blank
        out.append(row)
    return out


def document(form: Any, base: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str], dict[str, list[int]]]:
    """(document, field errors found while reading the form, section -> form row index of each item)."""
    errors: dict[str, str] = {}
    doc: dict[str, Any] = {k: base[k] for k in ("version", "store", "timezone") if k in base}
    doc["base_percent"] = _decimal(form.get("base_percent"))
    if form.get("points_per_money"):
        doc["points_per_money"] = _decimal(form.get("points_per_money"))
    step = (form.get("total_step") or "").strip()
    if step:
        if is_whole(step):
            doc["total_step"] = int(step)
        else:
            errors["total_step"] = _("Write a whole number of minor units (1 = no rounding).")
    indexes: dict[str, list[int]] = {s: [] for s in SECTIONS}

    time_rules = []
    for row in rows(form, "time_rules"):
        i = row["_index"]
        kind = row.get("type") or ""
        item: dict[str, Any] = {"type": kind, "k": _decimal(row.get("k"))}
        if kind == "date":
            item["date"] = (row.get("date") or "").strip()
        if kind in ("weekdays", "weekdays_hours"):
            item["weekdays"] = sorted(int(d) for d in row.get("weekdays") or [] if is_whole(d, 1))
        if kind in ("hours", "weekdays_hours"):
            for name in ("from_hour", "to_hour"):
                text = (row.get(name) or "").strip()
                if is_whole(text, 2):
                    item[name] = int(text)
                else:
                    errors[f"time_rules-{i}-{name}"] = _("Write an hour 0..23.")
                    item[name] = 0
        time_rules.append(item)
        indexes["time_rules"].append(i)
    if time_rules:
        doc["time_rules"] = time_rules

    tiers = []
    for row in rows(form, "receipt_tiers"):
        i = row["_index"]
        try:
            start = parse_minor(row.get("from") or "")
        except ValueError:
            errors[f"receipt_tiers-{i}-from"] = _("Write an amount like 100 or 2500,50.")
            start = 0
        tiers.append({"from": start, "k": _decimal(row.get("k"))})
        indexes["receipt_tiers"].append(i)
    if tiers:
        doc["receipt_tiers"] = tiers

    for section, key_field in (("categories", "name"), ("category_groups", "name"), ("products", "sku")):
        items: dict[str, Any] = {}
        for row in rows(form, section):
            i = row["_index"]
            key = (row.get(key_field) or "").strip()
            if not key:
                errors[f"{section}-{i}-{key_field}"] = _("Write a name.")
                continue
            if key in items:
                errors[f"{section}-{i}-{key_field}"] = _("This name is already in the list above.")
                continue
            item = {}
            if section == "category_groups":
                item["categories"] = [c.strip() for c in re.split(r"[,;]", row.get("categories") or "") if c.strip()]
                item["k"] = _decimal(row.get("k"))
            else:
                if (row.get("k") or "").strip():
                    item["k"] = _decimal(row.get("k"))
                if not row.get("redeemable"):
                    item["redeemable"] = False
                if section == "products" and (row.get("category") or "").strip():
                    item["category"] = row["category"].strip()
            items[key] = item
            indexes[section].append(i)
        if items:
            doc[section] = items

    redemption: dict[str, Any] = {}
    for name in REDEMPTION:
        value = form.get(f"redemption.{name}")
        if value not in (None, ""):
            redemption[name] = _decimal(value)
    redemption["accrue_on_redeemed"] = bool(form.get("redemption.accrue_on_redeemed"))
    doc["redemption"] = redemption
    return doc, errors, indexes


def form_values(doc: Mapping[str, Any]) -> dict[str, Any]:
    """What the form shows for a document: top fields by name, and each section's rows."""
    values: dict[str, Any] = {
        "base_percent": doc.get("base_percent", ""),
        "points_per_money": doc.get("points_per_money", ""),
        "total_step": doc.get("total_step", ""),
    }
    redemption = doc.get("redemption") or {}
    for name in REDEMPTION:
        values[f"redemption.{name}"] = redemption.get(name, "")
    values["redemption.accrue_on_redeemed"] = bool(redemption.get("accrue_on_redeemed"))
    values["time_rules"] = [dict(r) for r in doc.get("time_rules", [])]
    values["receipt_tiers"] = [
        {"from": format_minor(t["from"], "en").replace(",", ""), "k": t["k"]} for t in doc.get("receipt_tiers", [])
    ]
    values["categories"] = [
        {"name": n, "k": c.get("k", ""), "redeemable": c.get("redeemable", True)}
        for n, c in (doc.get("categories") or {}).items()
    ]
    values["category_groups"] = [
        {"name": n, "categories": ", ".join(g.get("categories", [])), "k": g.get("k", "")}
        for n, g in (doc.get("category_groups") or {}).items()
    ]
    values["products"] = [
        {"sku": s, "category": p.get("category", ""), "k": p.get("k", ""), "redeemable": p.get("redeemable", True)}
        for s, p in (doc.get("products") or {}).items()
    ]
    return values


def posted_values(form: Any) -> dict[str, Any]:
    """The form as posted (after an error), in :func:`form_values`' shape, keeping the user's rows."""
    values: dict[str, Any] = {k: form.get(k, "") for k in ("base_percent", "points_per_money", "total_step")}
    for name in REDEMPTION:
        values[f"redemption.{name}"] = form.get(f"redemption.{name}", "")
    values["redemption.accrue_on_redeemed"] = bool(form.get("redemption.accrue_on_redeemed"))
    for section in SECTIONS:
        values[section] = [
            {
                **{k: v for k, v in r.items() if k != "weekdays"},
                "weekdays": [int(d) for d in r.get("weekdays") or [] if is_whole(d, 1)],
                "redeemable": bool(r.get("redeemable")),
            }
            for r in rows(form, section)
        ]
    return values


_PATH = re.compile(r"\A(time_rules|receipt_tiers)\[(\d+)\](?:\.(\w+))?")


def field_of(path: str, doc: Mapping[str, Any], indexes: Mapping[str, list[int]]) -> str:
    """The form field a parse_rules problem path belongs to."""
    if path in ("base_percent", "points_per_money", "total_step", "timezone", "store", "version"):
        return path if path in ("base_percent", "points_per_money", "total_step") else "general"
    if path.startswith("redemption."):
        return path
    match = _PATH.match(path)
    if match:
        section, item, name = match.group(1), int(match.group(2)), match.group(3)
        row = indexes[section][item] if item < len(indexes[section]) else item
        if section == "time_rules" and name == "weekdays" or (name or "").startswith("weekdays"):
            name = "weekdays"
        return f"{section}-{row}-{name or ('type' if section == 'time_rules' else 'from')}"
    for section, key_field in (("categories", "name"), ("category_groups", "name"), ("products", "sku")):
        if path.startswith(section + "."):
            rest = path[len(section) + 1 :]
            names = list((doc.get(section) or {}).keys())
            # the longest name that prefixes the rest (names may contain dots)
            for position, name in sorted(enumerate(names), key=lambda p: -len(p[1])):
                if rest == name or rest.startswith(name + ".") or rest.startswith(name + "["):
                    tail = rest[len(name) :].lstrip(".")
                    field = re.split(r"[.\[]", tail)[0] if tail else key_field
                    row = indexes[section][position] if position < len(indexes[section]) else position
                    return f"{section}-{row}-{field}"
    if path.startswith("levels"):
        return "levels"
    return "general"
