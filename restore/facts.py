"""The ``facts`` a user sets by hand: in recoverypoint.json's ``facts`` object or with ``--fact KEY=VALUE``.

Every fact of :class:`restorekit.model.VmModel` can be set this way, under the key ``show`` prints in its list
of unknowns (:func:`fact_key`: the fact's camelCase name, or the manifest's older key where one exists), beside
the keys the rules read themselves (``sourceVmExists``, ``restoreTriggersLast24h``: ``restorekit.schema.FACTS``).
A key nothing reads, or a value of the wrong kind, is a warning (for ``--fact``, an error), never ignored
silently.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from typing import TYPE_CHECKING, Any

from restorekit.fs.errors import RecoveryPointError
from restorekit.jsonio import FLAG_WORDS

if TYPE_CHECKING:
    from collections.abc import Iterable

    from restorekit.model import VmModel
    from restorekit.recoverypoint import RecoveryPoint

#: Model facts whose ``facts`` key predates :func:`fact_key`'s rule (the manifest's documented names).
ALIASES = {"ade_keys_present": "adeKeysInKeyVault", "hyperv_generation": "hyperVGeneration"}


def camel(name: str) -> str:
    """``ade_keys_present`` as ``adeKeysPresent``: a fact's name in JSON output."""
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def fact_key(field_name: str) -> str:
    """The ``facts`` key (and ``--fact`` name) of a :class:`VmModel` field."""
    return ALIASES.get(field_name) or camel(field_name)


def model_fields() -> list[dataclasses.Field[Any]]:
    """The fact fields of :class:`VmModel` (all but the raw ``facts``)."""
    from restorekit.model import VmModel

    return [f for f in dataclasses.fields(VmModel) if f.name != "facts"]


def known_keys() -> list[str]:
    """Every key ``facts`` may hold."""
    from restorekit import schema  # ~1 ms of document shapes: only when facts are given

    return sorted({*(fact_key(f.name) for f in model_fields()), *schema.FACTS.fields})


def fact_warnings(facts: dict[str, Any], where: str) -> list[str]:
    """A warning for each key nothing reads (naming the closest known key) and each value of the wrong kind."""
    import difflib  # ~1 ms: only when facts are given

    known = known_keys()
    by_lower = {k.lower(): k for k in known}
    out = []
    for key in facts:
        if str(key).lower() in by_lower:
            continue
        close = difflib.get_close_matches(str(key).lower(), list(by_lower), n=1, cutoff=0.6)
        hint = f"; did you mean {by_lower[close[0]]!r}?" if close else f"; known keys: {', '.join(known)}"
        out.append(f"{where}: fact {key!r} is not one restorekit reads, so it is ignored{hint}")
    lowered = {str(k).lower(): v for k, v in facts.items()}
    for field in model_fields():
        key = fact_key(field.name)
        if lowered.get(key.lower()) is not None:
            try:
                coerce(field, lowered[key.lower()])
            except ValueError as exc:
                out.append(f"{where}: fact {key!r}: {exc}; ignored")
    return out


def parse_fact(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` of ``--fact``: VALUE as JSON when it is JSON (true, 3, ["a"]), else as a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"{text!r} is not KEY=VALUE (for example generalized=false)")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return key.strip(), value


def apply_facts(rp: RecoveryPoint, pairs: Iterable[tuple[str, Any]]) -> None:
    """Set ``--fact`` values on ``rp.facts`` (beside, and over, the manifest's): a value of the wrong kind is an
    error, an unknown key a warning."""
    given = dict(pairs)
    if not given:
        return
    from restorekit import schema  # see known_keys
    from restorekit.shapes import check_shape

    check_shape(given, schema.FACTS, where="--fact", hint="--fact KEY=VALUE: true/false, a number or text")
    problems = fact_warnings(given, "--fact")
    wrong = [p for p in problems if p.endswith("; ignored") and "is not one restorekit reads" not in p]
    if wrong:
        raise RecoveryPointError(wrong[0].removesuffix("; ignored"), hint="--fact KEY=VALUE, as `show` names KEY")
    lowered = {k.lower() for k in given}
    rp.facts = {**{k: v for k, v in rp.facts.items() if str(k).lower() not in lowered}, **given}
    rp.warnings += problems


def fill_model(m: VmModel, facts: dict[str, Any]) -> None:
    """Set each fact of ``m`` nothing else declared from ``facts`` (values of the wrong kind were warned about
    when the facts were read, and are skipped)."""
    lowered = {str(k).lower(): v for k, v in facts.items()}
    for field in model_fields():
        value = lowered.get(fact_key(field.name).lower())
        if value is None or getattr(m, field.name) is not None:
            continue
        with contextlib.suppress(ValueError):
            setattr(m, field.name, coerce(field, value))


def coerce(field: dataclasses.Field[Any], value: Any) -> Any:
    """``value`` as the field's type (``bool | None``, ``list[int] | None``, ...); ValueError when it is not one."""
    kind = str(field.type).removesuffix(" | None")
    if field.name == "os_type":
        from restorekit.model import os_name

        found = os_name(value)
        if found is None:
            raise ValueError(f"expected Windows or Linux, not {value!r}")
        return found
    if field.name == "hyperv_generation":
        if not isinstance(value, str) or value.upper() not in ("V1", "V2"):
            raise ValueError(f"expected V1 or V2, not {value!r}")
        return value.upper()
    if kind == "bool":
        flag = value if isinstance(value, bool) else FLAG_WORDS.get(str(value).lower())
        if flag is None:
            raise ValueError(f"expected true or false, not {value!r}")
        return flag
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected a whole number, not {value!r}")
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise ValueError(f"expected text, not {value!r}")
        return value
    if kind in ("list[str]", "list[int]", "frozenset[str]"):
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list):
            raise ValueError(f"expected a list, not {value!r}")
        want = int if "int" in kind else str
        if not all(isinstance(i, want) and not isinstance(i, bool) for i in items):
            raise ValueError(f"expected a list of {'numbers' if want is int else 'texts'}, not {value!r}")
        return frozenset(items) if kind.startswith("frozenset") else list(items)
    if kind.startswith("dict["):
        if not isinstance(value, dict):
            raise ValueError(f"expected an object, not {value!r}")
        if kind.startswith("dict[int"):
            try:
                return {int(k): v for k, v in value.items()}
            except ValueError:
                raise ValueError(f"expected LUNs as keys, not {list(value)!r}") from None
        return value
    raise ValueError(f"cannot be set by hand (type {kind})")
