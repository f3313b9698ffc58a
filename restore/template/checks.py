"""Offline checks of a deployment template that the ARM JSON schemas cannot express.

Each check takes the template (and, where values matter, the parameters file) and returns its problems as
one-line strings; an empty list means it passed. :func:`problems` runs them all. The builder runs them before it
writes anything, and the tests run them on every template and on broken copies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from restorekit.errors import TemplateError
from restorekit.template.arm import API_VERSIONS, Call, Node, body_of, calls, parse
from restorekit.template.names import DISK_NAME
from restorekit.template.params import VALUE_TYPES

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

#: The template functions restorekit emits; anything else is a typo the schema would let through.
FUNCTIONS = {"parameters", "variables", "resourceid", "concat", "if", "equals", "empty", "null", "createobject",
             "resourcegroup"}
#: Types referenced but not deployed by the template.
EXTERNAL_TYPES = {"Microsoft.Storage/storageAccounts", "Microsoft.Network/virtualNetworks/subnets"}
DISKS = "Microsoft.Compute/disks"
VMS = "Microsoft.Compute/virtualMachines"
NICS = "Microsoft.Network/networkInterfaces"


def _strings(doc: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, string) of every string in ``doc`` outside metadata."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key != "metadata":
                yield from _strings(value, f"{path}.{key}" if path else key)
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from _strings(value, f"{path}[{i}]")
    elif isinstance(doc, str):
        yield path, doc


def _expressions(template: dict[str, Any]) -> Iterator[tuple[str, Node]]:
    for path, text in _strings(template):
        body = body_of(text)
        if body is not None:
            yield path, parse(body)


def _resources(template: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [r for r in template.get("resources", []) if r.get("type") == rtype]


def _vm(template: dict[str, Any]) -> dict[str, Any]:
    found = _resources(template, VMS)
    return found[0].get("properties", {}) if len(found) == 1 else {}


def check_references(template: dict[str, Any]) -> list[str]:
    """Every function is known; every ``parameters()``, ``variables()``, ``resourceId()`` reference resolves."""
    out = []
    params, variables = template.get("parameters", {}), template.get("variables", {})
    for path, node in _expressions(template):
        for call in calls(node):
            arg = call.args[0] if call.args else None
            if call.name not in FUNCTIONS:
                out.append(f"{path}: unknown function {call.name}()")
            elif call.name == "parameters" and arg not in params:
                out.append(f"{path}: parameters({arg!r}) is not a parameter of the template")
            elif call.name == "variables" and arg not in variables:
                out.append(f"{path}: variables({arg!r}) is not a variable of the template")
            elif call.name == "resourceid":
                out += _resource_id_problems(path, call)
    return out


def _resource_id_problems(path: str, call: Call) -> list[str]:
    typed = [i for i, a in enumerate(call.args) if isinstance(a, str) and "/" in a]
    if not typed:
        return [f"{path}: resourceId() without a resource type"]
    at = typed[0]
    rtype = str(call.args[at])
    if rtype not in API_VERSIONS and rtype not in EXTERNAL_TYPES:
        return [f"{path}: resourceId() of {rtype}, a type the template neither deploys nor expects to exist"]
    names = len(call.args) - at - 1
    if at > 2 or names != rtype.count("/"):
        return [f"{path}: resourceId({rtype}) takes {rtype.count('/')} name(s) after at most 2 scope arguments, "
                f"got {names} after {at}"]
    return []


def check_depends_on(template: dict[str, Any]) -> list[str]:
    """Every ``dependsOn`` entry (and every local ``resourceId`` of a deployed type) names a template resource."""
    deployed = {(r.get("type"), _name_node(r)) for r in template.get("resources", [])}
    out = []
    for res in template.get("resources", []):
        for entry in res.get("dependsOn", []):
            body = body_of(entry)
            node = parse(body) if body else None
            if not (isinstance(node, Call) and node.name == "resourceid"):
                out.append(f"{res.get('type')}: dependsOn {entry!r} is not a resourceId() expression")
            elif _target(node) not in deployed:
                out.append(f"{res.get('type')}: dependsOn {entry} names no resource of the template")
    for path, node in _expressions({"resources": template.get("resources", [])}):
        for call in calls(node):
            target = _target(call) if call.name == "resourceid" else None
            if target and target[0] in API_VERSIONS and len(call.args) == 2 and target not in deployed:
                out.append(f"{path}: {call.args[0]} {call.args[1]} is not a resource of the template")
    return out


def _name_node(resource: dict[str, Any]) -> Node:
    body = body_of(resource.get("name"))
    return parse(body) if body is not None else str(resource.get("name"))


def _target(call: Call) -> tuple[str, Node] | None:
    if len(call.args) == 2 and isinstance(call.args[0], str):
        return call.args[0], call.args[1]
    return None


def check_api_versions(template: dict[str, Any]) -> list[str]:
    """Each resource at the apiVersion the schemas in ``../shared/arm-schemas`` cover."""
    return [f"{r.get('type')}: apiVersion {r.get('apiVersion')}, expected {API_VERSIONS.get(r.get('type', ''))}"
            for r in template.get("resources", []) if API_VERSIONS.get(r.get("type", "")) != r.get("apiVersion")]


def check_attach(template: dict[str, Any]) -> list[str]:
    """An OS disk attached with ``createOption: Attach`` means no ``osProfile`` and no ``imageReference``."""
    vm = _vm(template)
    storage = vm.get("storageProfile", {})
    if storage.get("osDisk", {}).get("createOption") != "Attach":
        return ["the VM's osDisk.createOption is not Attach"]
    return [f"osDisk Attach with {what}" for what, there in (("osProfile", "osProfile" in vm),
                                                             ("imageReference", "imageReference" in storage)) if there]


def check_import(template: dict[str, Any]) -> list[str]:
    """A disk created with ``Import`` names its blob (``sourceUri``) and that blob's account (``storageAccountId``)."""
    out = []
    for disk in _resources(template, DISKS):
        data = disk.get("properties", {}).get("creationData", {})
        if data.get("createOption") == "Import":
            out += [f"disk {disk.get('name')}: Import without {key}" for key in ("sourceUri", "storageAccountId")
                    if not data.get(key)]
    return out


def check_luns(template: dict[str, Any]) -> list[str]:
    """Data-disk LUNs are whole numbers 0-63, each used once."""
    luns = [d.get("lun") for d in _vm(template).get("storageProfile", {}).get("dataDisks", [])]
    out = [f"LUN {lun!r} is not 0-63" for lun in luns if not isinstance(lun, int) or not 0 <= lun <= 63]
    out += [f"LUN {lun} used {luns.count(lun)} times" for lun in sorted(set(luns), key=str) if luns.count(lun) > 1]
    return out


def check_primary_nic(template: dict[str, Any]) -> list[str]:
    """Exactly one of the VM's NICs is primary, and each NIC has exactly one primary IP configuration."""
    refs = _vm(template).get("networkProfile", {}).get("networkInterfaces", [])
    primary = [r for r in refs if r.get("properties", {}).get("primary") is True]
    out = [] if len(primary) == 1 else [f"{len(primary)} primary NICs among {len(refs)}"]
    for nic in _resources(template, NICS):
        configs = nic.get("properties", {}).get("ipConfigurations", [])
        if sum(c.get("properties", {}).get("primary") is True for c in configs) != 1:
            out.append(f"NIC {nic.get('name')}: not exactly one primary IP configuration")
    return out


def check_os_only(template: dict[str, Any]) -> list[str]:
    """``osType`` and ``hyperVGeneration`` on the OS disk only (its disk resource, or the VM's osDisk)."""
    storage = _vm(template).get("storageProfile", {})
    os_id = body_of(storage.get("osDisk", {}).get("managedDisk", {}).get("id"))
    os_name = parse(os_id).args[-1] if os_id else None  # type: ignore[union-attr]
    out = []
    for disk in _resources(template, DISKS):
        props = disk.get("properties", {})
        is_os = _name_node(disk) == os_name
        for key in ("osType", "hyperVGeneration"):
            if is_os and key not in props:
                out.append(f"OS disk {disk.get('name')}: no {key}")
            elif not is_os and key in props:
                out.append(f"data disk {disk.get('name')}: has {key}, which only an OS disk may have")
    out += [f"data disk at LUN {d.get('lun')}: has osType" for d in storage.get("dataDisks", []) if "osType" in d]
    if "osType" not in storage.get("osDisk", {}):
        out.append("the VM's osDisk has no osType")
    return out


def check_disk_names(template: dict[str, Any], values: dict[str, Any]) -> list[str]:
    """Every disk name (resource or VM entry), resolved from the parameter values, is 1-80 of [A-Za-z0-9_-]."""
    storage = _vm(template).get("storageProfile", {})
    names = [d.get("name") for d in _resources(template, DISKS)]
    names += [d.get("name") for d in [storage.get("osDisk", {}), *storage.get("dataDisks", [])] if "name" in d]
    out = []
    for name in names:
        value = _resolve(name, values)
        if not isinstance(value, str) or not DISK_NAME.fullmatch(value):
            out.append(f"disk name {name!r} = {value!r}: not 1-80 characters of A-Z a-z 0-9 _ -")
    return out


def _resolve(value: Any, values: dict[str, Any]) -> Any:
    body = body_of(value)
    if body is None:
        return value
    node = parse(body)
    if isinstance(node, Call) and node.name == "parameters" and not node.access:
        return values.get(str(node.args[0]))
    return None


def check_parameters_file(template: dict[str, Any], parameters_file: dict[str, Any]) -> list[str]:
    """The parameters file names only template parameters, with values of their type and allowed values, and
    gives every parameter that has no default."""
    declared = template.get("parameters", {})
    given = parameters_file.get("parameters", {})
    out = [f"parameters file: {name} is not a template parameter" for name in given if name not in declared]
    for name, spec in declared.items():
        if name not in given:
            if "defaultValue" not in spec:
                out.append(f"parameters file: {name} has no default and no value")
            continue
        value = given[name].get("value") if isinstance(given[name], dict) else None
        want = VALUE_TYPES.get(spec.get("type", "").lower())
        if want is None or not isinstance(value, want) or (want is int and isinstance(value, bool)):
            out.append(f"parameters file: {name} = {value!r} is not of type {spec.get('type')}")
        elif "allowedValues" in spec and value not in spec["allowedValues"]:
            out.append(f"parameters file: {name} = {value!r} is not one of {spec['allowedValues']}")
        elif isinstance(value, str) and len(value) > spec.get("maxLength", len(value)):
            out.append(f"parameters file: {name} is longer than {spec['maxLength']}")
    return out


def values_of(template: dict[str, Any], parameters_file: dict[str, Any]) -> dict[str, Any]:
    """Parameter values for a deployment with this file: the file's, else the literal defaults."""
    out = {name: spec.get("defaultValue") for name, spec in template.get("parameters", {}).items()}
    out.update({name: v.get("value") for name, v in parameters_file.get("parameters", {}).items()
                if isinstance(v, dict)})
    return out


STRUCTURE: list[Callable[[dict[str, Any]], list[str]]] = [
    check_references, check_depends_on, check_api_versions, check_attach, check_import, check_luns,
    check_primary_nic, check_os_only]


def problems(template: dict[str, Any], parameters_file: dict[str, Any]) -> list[str]:
    """Every problem of every check; a malformed expression is one problem too."""
    out: list[str] = []
    try:
        for check in STRUCTURE:
            out += check(template)
        out += check_disk_names(template, values_of(template, parameters_file))
    except TemplateError as exc:
        out.append(str(exc))
    out += check_parameters_file(template, parameters_file)
    return out
