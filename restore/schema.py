"""The shape of every JSON document restorekit reads: each field some code reads, with the type it must have.

The documents are what ``az`` prints (``vm show``, ``backup recoverypoint show``, ``network nic show``, ``backup
vault show``, ``storage account show``), a restore job's ``config-*.json`` (checked once unflattened, see
:func:`restorekit.recoverypoint.normalize_vm`) and the manifest ``recoverypoint.json``. They are checked with
:func:`restorekit.shapes.check_shape` when loaded, so a number where a list belongs is one error naming its field,
never a crash further on. ``null`` fits every field and keys match case-insensitively; fields not listed here may
hold anything (Azure adds fields). A field read anywhere in ``restore/`` belongs here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from restorekit.shapes import ANY, BOOL, FLAG, INT, NUM, STR, STR_OR_INT, ListOf, Obj, Value

if TYPE_CHECKING:
    from restorekit.shapes import Shape


def az_resource(fields: dict[str, Shape], **top: Shape) -> Obj:
    """An ``az`` resource document: its fields flat (as ``az`` prints them) or under ``properties`` (as the REST
    API returns them)."""
    return Obj({**fields, **top, "properties": Obj(fields)})


#: ``{"id": ...}``: a reference to another resource.
REF = Obj({"id": STR})
#: Azure attaches data disks at LUN 0-63; restorekit names the OS disk LUN -1.
MAX_LUN = 63
DATA_LUN = Value(f"a LUN from 0 to {MAX_LUN}", lambda v: INT.accepts(v) and 0 <= v <= MAX_LUN)
ANY_LUN = Value(f"a LUN from 0 to {MAX_LUN}, or -1 for the OS disk", lambda v: INT.accepts(v) and -1 <= v <= MAX_LUN)
#: The operating systems Azure knows (any case: ``restorekit.model.os_name`` spells them as Azure does).
OS_TYPES = ("Windows", "Linux")
OS_TYPE = Value(" or ".join(f'"{name}"' for name in OS_TYPES),
                lambda v: isinstance(v, str) and v.lower() in {name.lower() for name in OS_TYPES})
#: A Hyper-V generation as Azure writes it (``V1``, ``V2``; the readers upper-case it).
GENERATION = Value('"V1" or "V2"', lambda v: isinstance(v, str) and v.upper() in ("V1", "V2"))

_DISK = {
    "name": STR, "lun": DATA_LUN, "osType": OS_TYPE, "vhd": Obj({"uri": STR}), "caching": STR, "diskSizeGb": INT,
    "managedDisk": Obj({"id": STR, "storageAccountType": STR, "diskEncryptionSet": REF}),
    "encryptionSettings": Obj({"enabled": BOOL}), "writeAcceleratorEnabled": BOOL, "diffDiskSettings": Obj(),
}

#: ``az vm show [-d]`` / ``az vm get-instance-view`` / a config-*.json, with ``properties`` lifted.
VM = Obj({
    "id": STR, "name": STR, "vmId": STR, "type": STR, "location": STR, "resourceGroup": STR, "licenseType": STR,
    "priority": STR, "zones": ListOf(STR_OR_INT), "powerState": STR,
    "hardwareProfile": Obj({"vmSize": STR}),
    "storageProfile": Obj({
        "osDisk": Obj(_DISK), "dataDisks": ListOf(Obj(_DISK)),
        "imageReference": Obj({"publisher": STR, "offer": STR, "sku": STR, "version": STR}),
    }),
    "securityProfile": Obj({"securityType": STR,
                            "uefiSettings": Obj({"secureBootEnabled": BOOL, "vTpmEnabled": BOOL})}),
    "availabilitySet": REF, "host": REF, "hostGroup": REF,
    "plan": Obj({"name": STR, "publisher": STR, "product": STR}),
    "networkProfile": Obj({"networkInterfaces": ListOf(Obj({"id": STR, "primary": BOOL,
                                                            "properties": Obj({"primary": BOOL})}))}),
    "extendedLocation": Obj({"type": STR, "name": STR}),
    "osProfile": Obj({"computerName": STR}),
    "diagnosticsProfile": Obj({"bootDiagnostics": Obj({"enabled": BOOL})}),
    "instanceView": Obj({"hyperVGeneration": GENERATION, "statuses": ListOf(Obj({"code": STR, "displayStatus": STR}))}),
    "resources": ListOf(Obj({"name": STR, "type": STR, "typePropertiesType": STR})),
})

#: ``az backup recoverypoint show`` (IaasVMRecoveryPoint).
RECOVERY_POINT = az_resource({
    "osType": OS_TYPE, "isManagedVirtualMachine": FLAG, "isSourceVMEncrypted": FLAG,
    "keyAndSecret": Obj({"kekDetails": Obj({"keyUrl": STR, "keyVaultId": STR}),
                         "bekDetails": Obj({"secretUrl": STR, "secretVaultId": STR})}),
    "recoveryPointTierDetails": ListOf(Obj({"type": STR_OR_INT, "status": STR_OR_INT})), "tierType": STR,
    "recoveryPointDiskConfiguration": Obj({
        "excludedDiskList": ListOf(ANY), "includedDiskList": ListOf(Obj({"lun": ANY_LUN, "name": STR})),
        "numberOfDisksIncludedInBackup": INT, "numberOfDisksAttachedToVm": INT,
    }),
    "sourceVMStorageType": STR, "zones": ListOf(STR_OR_INT), "securityType": STR, "virtualMachineSize": STR,
    "isPrivateAccessEnabledOnAnyDisk": FLAG, "originalStorageAccountOption": FLAG, "sourceResourceId": STR,
    "recoveryPointTime": STR, "recoveryPointType": STR, "recoveryPointProperties": Obj({"expiryTime": STR}),
}, id=STR, name=STR)

_IP_CONFIGURATION = az_resource({
    "privateIPAddress": STR, "privateIPAllocationMethod": STR, "loadBalancerBackendAddressPools": ListOf(REF),
    "publicIPAddress": REF, "subnet": REF,
}, name=STR)

#: ``az network nic show``.
NIC = az_resource({"ipConfigurations": ListOf(_IP_CONFIGURATION), "enableAcceleratedNetworking": BOOL,
                   "primary": BOOL}, id=STR, name=STR)

#: ``az backup vault show`` merged with ``az backup vault backup-properties show``: these keys are read wherever
#: they appear (the two commands nest them differently).
VAULT = Obj({
    "id": STR, "name": STR, "location": STR,
    "identity": Obj({"type": STR, "userAssignedIdentities": Obj()}),
    "standardTierStorageRedundancy": STR, "storageType": STR, "storageModelType": STR,
    "crossRegionRestoreFlag": FLAG, "crossRegionRestore": FLAG, "crossSubscriptionRestoreState": STR,
}, deep=True)

#: The manifest's ``facts``: what no ``az`` command prints (``restorekit.model.build_model`` and the rules).
FACTS = Obj({
    **dict.fromkeys(("generalized", "diagnosticSettings", "cloudInit", "domainController", "sharedDisks",
                     "adeKeysInKeyVault", "networkRestrictedStorage", "dedicatedHost", "sqlVm"), FLAG),
    **dict.fromkeys(("sourceVmExists", "secondaryRegionHasZones", "pairedRegionSameGeography", "clientHasDedup",
                     "targetVmNameExists", "skuNotAvailable", "targetSubscriptionSameTenant",
                     "targetSubscriptionRegistered", "clientOutbound3260", "clientIsBackedUp",
                     "clientLocaleEnglish"), BOOL),
    "hyperVGeneration": GENERATION, "osName": STR, "secondaryRegion": STR, "targetVnetLocation": STR,
    "restoreTriggersLast24h": INT, "recoverySizeGB": NUM,
})

#: ``recoverypoint.json``; its ``vm`` is checked against :data:`VM` once normalised.
MANIFEST = Obj({
    "disks": ListOf(Obj({"lun": ANY_LUN, "image": STR, "name": STR})),
    "vm": Obj(), "recoveryPoint": RECOVERY_POINT, "networkInterfaces": ListOf(NIC), "vault": VAULT, "facts": FACTS,
})

#: ``az storage account show`` (``--storage-account``).
STORAGE_ACCOUNT = Obj({
    "id": STR, "name": STR, "resourceGroup": STR, "location": STR, "kind": STR, "allowSharedKeyAccess": BOOL,
    "sku": Obj({"name": STR, "tier": STR}), "networkRuleSet": Obj({"defaultAction": STR}),
})
