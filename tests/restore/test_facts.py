"""--fact and the manifest's facts: every unknown `show` names is a key that sets it; misspelled keys are named;
a config-*.json without its VHDs still gives show, plan and template; template names the disks it leaves out."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from restorekit.facts import coerce, fact_key, model_fields

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "fixtures" / "demo"
FORM1 = ROOT / "fixtures" / "demo-form1"


def run(*args: str) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "restorekit", *args], capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def unknown(*args: str) -> dict[str, Any]:
    code, out, err = run("show", *args, "--no-scan", "--json")
    assert code == 0, err
    return {u["fact"]: u for u in json.loads(out)["unknown"]}


SAMPLES = {"bool": "true", "int": "2", "str": '"x"', "list[str]": '["a"]', "list[int]": "[0]",
           "frozenset[str]": '["Standard"]', "dict[int, int]": '{"0": 32}', "dict[int, str]": '{"0": "Premium_LRS"}',
           "dict[str, Any]": '{"type": "None"}'}


def sample(key: str) -> str:
    field = next(f for f in model_fields() if fact_key(f.name) == key)
    value = {"os_type": "Windows", "hyperv_generation": "V2"}.get(field.name) or SAMPLES[
        str(field.type).removesuffix(" | None")]
    coerce(field, json.loads(value) if value[0] in '"[{' or value[0].isdigit() or value == "true" else value)
    return value


def test_every_unknown_show_names_is_a_key_that_sets_it() -> None:
    missing = unknown(str(FORM1 / "config-demo-vm-3f6e1c2a-8b4d-4e7f-9a1c-5d2b8e7f6a90.json"))
    assert len(missing) > 20
    facts = [arg for key in missing for arg in ("--fact", f"{key}={sample(key)}")]
    assert unknown(str(FORM1), *facts) == {}


def test_fact_wins_over_the_manifest_and_misspellings_are_named(tmp_path: Path) -> None:
    assert "generalized" in unknown(str(DEMO))
    assert "generalized" not in unknown(str(DEMO), "--fact", "generalized=false")
    code, out, err = run("show", str(DEMO), "--no-scan", "--fact", "generalised=false")
    assert code == 0 and "fact 'generalised' is not one restorekit reads, so it is ignored; did you mean " \
                         "'generalized'?" in out
    code, _o, err = run("show", str(DEMO), "--no-scan", "--fact", "sharedDisks=maybe")
    assert code == 1 and "sharedDisks: expected true or false" in err
    code, _o, err = run("plan", str(DEMO), "--fact", "nonsense")
    assert code == 2 and "'nonsense' is not KEY=VALUE" in err
    # The manifest's own facts get the same checks: unknown keys and values of the wrong kind are warnings.
    rp = tmp_path / "rp"
    shutil.copytree(DEMO, rp)
    doc = json.loads((rp / "recoverypoint.json").read_text())
    doc["facts"] = {"domainControler": False, "hostname": 5}
    (rp / "recoverypoint.json").write_text(json.dumps(doc))
    code, out, _err = run("show", str(rp), "--no-scan", "--json")
    warnings = json.loads(out)["warnings"]
    assert any("'domainControler' is not one restorekit reads" in w and "'domainController'" in w for w in warnings)
    assert any("fact 'hostname': expected text, not 5; ignored" in w for w in warnings), warnings
    # A manifest fact the plan reads: --fact overrides it.
    doc["facts"] = {"sourceVmExists": True}
    (rp / "recoverypoint.json").write_text(json.dumps(doc))
    _c, with_manifest, _e = run("plan", str(rp), "--option", "replace-disks", "--no-scan", "--json")
    _c, overridden, _e = run("plan", str(rp), "--option", "replace-disks", "--no-scan", "--json", "--fact",
                             "sourceVmExists=false")
    assert with_manifest != overridden


def test_a_config_json_without_its_vhds_gives_show_plan_and_template(tmp_path: Path) -> None:
    config = next(FORM1.glob("config-*.json"))
    for args in (["show", str(FORM1)], ["plan", str(config)], ["template", str(FORM1), "-o", str(tmp_path / "t")]):
        code, out, err = run(*args, "--json")
        assert code in (0, 3), (args, err)
        assert "Traceback" not in err
    code, out, _err = run("show", str(FORM1), "--json")
    doc = json.loads(out)
    assert any("is not beside" in w and "its scan is skipped" in w for w in doc["warnings"])
    template = json.loads((tmp_path / "t" / "azuredeploy.json").read_text())
    assert template["metadata"]["source"]["disks"] == [-1, 0]  # deployed from the blobs the config names
    code, _o, err = run("inspect", str(FORM1))
    assert code == 1 and "is not in the folder" in err  # reading files needs the images


def test_template_names_the_disks_it_leaves_out(tmp_path: Path) -> None:
    doc = json.loads((DEMO / "recoverypoint.json").read_text())
    doc["disks"] = [{"lun": -1, "image": str(DEMO / "disks" / "os.vhd")}]
    doc["vm"]["storageProfile"]["dataDisks"].append({"lun": 3, "name": "demo-vm-logs", "diskSizeGb": 8})
    (tmp_path / "recoverypoint.json").write_text(json.dumps(doc))
    code, out, err = run("template", str(tmp_path), "-o", str(tmp_path / "t"), "--no-scan")
    assert code == 0, err
    assert "disk left out (demo-vm-data0): the data disk at LUN 0 is declared by the VM but the recovery point " \
           "has no image for it" in out and "left out (demo-vm-logs): the data disk at LUN 3" in out
    template = json.loads((tmp_path / "t" / "azuredeploy.json").read_text())
    assert [d["lun"] for d in template["metadata"]["source"]["disksLeftOut"]] == [0, 3]
    checks = [f for f in template["metadata"]["findings"] if f.get("check") == "disk-left-out"]
    assert [f["evidence"] for f in checks] == ["lun 0", "lun 3"]
    assert "dataDisks" not in template["resources"][-1]["properties"]["storageProfile"]
