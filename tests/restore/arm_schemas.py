"""Validate templates offline against the official ARM JSON schemas in ../shared/arm-schemas.

As that folder's README says: every file is registered under its ``https://schema.management.azure.com/schemas/``
URI as a draft-4 resource in a ``referencing.Registry`` whose ``retrieve`` raises, so nothing is fetched; the
deployment template's ``resource`` definition (which points at a 4 MB file of every resource type, not included)
is replaced in memory by ``allOf[resourceBase, oneOf[<the types restorekit emits>]]``; then each resource is
validated again against its own ``resourceDefinitions`` entry, which gives readable errors.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

import jsonschema
import pytest
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from restorekit.template.arm import API_VERSIONS
from tests.conftest import ROOT

SCHEMAS = ROOT.parent / "shared" / "arm-schemas"
BASE_URI = "https://schema.management.azure.com/schemas/"
FILES = ("2019-04-01/deploymentTemplate.json", "common/definitions.json", "2025-01-02/Microsoft.Compute.json",
         "2024-11-01/Microsoft.Compute.json", "2024-11-01/Microsoft.Compute.Extensions.json",
         "2024-07-01/Microsoft.Network.NRP.json")
#: The schema file of each resource type at its pinned apiVersion.
FILE_OF = {"Microsoft.Compute/disks": "2025-01-02/Microsoft.Compute.json",
           "Microsoft.Compute/virtualMachines": "2024-11-01/Microsoft.Compute.json",
           "Microsoft.Network/networkInterfaces": "2024-07-01/Microsoft.Network.NRP.json",
           "Microsoft.Network/publicIPAddresses": "2024-07-01/Microsoft.Network.NRP.json"}


class Offline(Exception):
    """A schema tried to reach a document that is not in ../shared/arm-schemas."""


def _retrieve(uri: str) -> Resource[Any]:
    raise Offline(f"schema {uri} is not available offline")


def _ref(rtype: str) -> str:
    assert API_VERSIONS[rtype] in FILE_OF[rtype]
    return f"{BASE_URI}{FILE_OF[rtype]}#/resourceDefinitions/{rtype.split('/', 1)[1]}"


@cache
def _registry() -> tuple[Registry[Any], dict[str, Any]]:
    if not SCHEMAS.is_dir():
        pytest.fail(f"missing {SCHEMAS}: put the project's shared/ folder beside the checkout")
    docs = {path: json.loads((SCHEMAS / path).read_text("utf-8")) for path in FILES}
    template_schema = copy.deepcopy(docs["2019-04-01/deploymentTemplate.json"])
    template_schema["definitions"]["resource"] = {"allOf": [
        {"$ref": f"{BASE_URI}common/definitions.json#/definitions/resourceBase"},
        {"oneOf": [{"$ref": _ref(t)} for t in FILE_OF]}]}
    docs["2019-04-01/deploymentTemplate.json"] = template_schema
    registry: Registry[Any] = Registry(retrieve=_retrieve)  # type: ignore[call-arg]
    registry = registry.with_resources(
        (BASE_URI + path, Resource.from_contents(doc, default_specification=DRAFT4)) for path, doc in docs.items())
    return registry.crawl(), template_schema


def schema_errors(template: dict[str, Any]) -> list[str]:
    """Every schema error of the template as a whole, then of each resource against its own definition."""
    registry, template_schema = _registry()
    out = _errors(template_schema, template, registry, "template")
    for i, res in enumerate(template.get("resources", [])):
        rtype = res.get("type")
        if rtype not in FILE_OF:
            out.append(f"resources[{i}]: type {rtype} has no schema here")
            continue
        out += _errors({"$ref": _ref(rtype)}, res, registry, f"resources[{i}] {rtype}")
    return out


def _errors(schema: dict[str, Any], doc: Any, registry: Registry[Any], where: str) -> list[str]:
    validator = jsonschema.Draft4Validator(schema, registry=registry)
    out = []
    for error in validator.iter_errors(doc):
        deepest = best_match(error.context) if error.context else error
        at = "/".join(map(str, deepest.absolute_path))
        out.append(f"{where}: {at}: {deepest.message[:200]}")
    return out
