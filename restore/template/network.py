"""Network of the new VM: one NIC per source NIC (dynamic private IP, subnet from parameters), optional public IP.

What the source NICs had that a new VM cannot simply copy becomes a parameter citing its plan finding: a static
private IP (R21) defaults to dynamic with the old address in the description, load-balancer backend pools (R20)
default to the source's pools, extra NICs (R20) get their own subnet parameter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from restorekit.template.arm import param, q, resource_id, var, x

if TYPE_CHECKING:
    from restorekit.template.draft import Draft
    from restorekit.template.source import SourceNic

NICS = "Microsoft.Network/networkInterfaces"
PUBLIC_IPS = "Microsoft.Network/publicIPAddresses"
SUBNETS = "Microsoft.Network/virtualNetworks/subnets"


def add_network(d: Draft) -> dict[str, Any]:
    """Declare the network parameters and resources; returns the VM's ``networkProfile``."""
    nics = d.source.nics
    primary = next(n for n in nics if n.primary)
    vnet, vnet_group, subnet = _split_subnet(primary.subnet)
    req = d.request
    vnet = req.target_vnet_name or vnet
    subnet = req.target_subnet_name or subnet
    d.params.add("VirtualNetwork", "string", "Existing virtual network for the VM, in the VM's region.", vnet or "",
                 fill_in=vnet is None)
    d.params.add("VirtualNetworkResourceGroup", "string", "Resource group of VirtualNetwork.",
                 req.target_vnet_resource_group or vnet_group or x("resourceGroup().name"))
    d.params.add("Subnet", "string", "Subnet of VirtualNetwork for the primary NIC.", subnet or "",
                 fill_in=subnet is None)
    extra = d.cite("R20") if len(nics) > 1 or any(n.lb_pools for n in nics) else []
    d.params.add("CreatePublicIp", "bool", "Create a Standard public IP address for the primary NIC "
                 f"({'the source NIC had one' if primary.public_ip else 'the source NIC had none'}).",
                 primary.public_ip, findings=[] if extra else d.cite("R20"))
    d.var("publicIpName", x(f"concat({param('VirtualMachineName')}, {q('-pip')})"))
    public_id = resource_id(PUBLIC_IPS, var("publicIpName"))
    zones = {"zones": [x(param("Zone"))]} if d.zone else {}
    d.resource(PUBLIC_IPS, x(var("publicIpName")), {
        "condition": x(param("CreatePublicIp")), "location": x(param("Location")), **zones,
        "sku": {"name": "Standard"}, "properties": {"publicIPAllocationMethod": "Static"}})
    refs = []
    for k, nic in enumerate(nics, start=1):
        subnet_param = "Subnet" if nic.primary else _extra_subnet(d, k, nic, subnet, extra)
        name_var = f"nic{k}Name"
        d.var(name_var, x(f"concat({param('VirtualMachineName')}, {q(f'-nic{k}')})"))
        config = _ip_config(d, k, nic, subnet_param, public_id, extra)
        props: dict[str, Any] = {"ipConfigurations": [{"name": "ipconfig1", "properties": config}]}
        if nic.accelerated is not None:
            props["enableAcceleratedNetworking"] = nic.accelerated
        body: dict[str, Any] = {"location": x(param("Location"))}
        if nic.primary:
            body["dependsOn"] = [x(public_id)]
        d.resource(NICS, x(var(name_var)), {**body, "properties": props})
        nic_id = x(resource_id(NICS, var(name_var)))
        d.vm_depends_on.append(nic_id)
        refs.append({"id": nic_id, "properties": {"primary": nic.primary}})
    return {"networkInterfaces": refs}


def _split_subnet(subnet_id: str | None) -> tuple[str | None, str | None, str | None]:
    """(VNet, its resource group, subnet) from a subnet's resource id."""
    if not subnet_id:
        return None, None, None
    parts = subnet_id.strip("/").split("/")
    lower = [p.lower() for p in parts]
    try:
        return (parts[lower.index("virtualnetworks") + 1], parts[lower.index("resourcegroups") + 1],
                parts[lower.index("subnets") + 1])
    except (ValueError, IndexError):
        return None, None, None


def _extra_subnet(d: Draft, k: int, nic: SourceNic, primary_subnet: str | None, extra: list[Any]) -> str:
    name = f"SubnetNic{k}"
    own = _split_subnet(nic.subnet)[2] or primary_subnet
    d.params.add(name, "string", f"Subnet of VirtualNetwork for NIC {k} (source NIC: {nic.name or 'unknown'}); "
                 "all NICs of a VM share one virtual network.", own or "", fill_in=own is None, findings=extra)
    return name


def _ip_config(d: Draft, k: int, nic: SourceNic, subnet_param: str, public_id: str,
               extra: list[Any]) -> dict[str, Any]:
    subnet_id = resource_id(SUBNETS, param("VirtualNetwork"), param(subnet_param),
                            group=param("VirtualNetworkResourceGroup"))
    config: dict[str, Any] = {"primary": True, "subnet": {"id": x(subnet_id)},
                              "privateIPAllocationMethod": "Dynamic"}
    if nic.static_ips:
        name = f"PrivateIpAddressNic{k}"
        d.params.add(name, "string", f"Empty: a dynamic private IP. The source NIC had the static address "
                     f"{', '.join(nic.static_ips)}; set it here to keep it (only once no other NIC holds it).", "",
                     findings=d.cite("R21"))
        config["privateIPAllocationMethod"] = x(f"if(empty({param(name)}), {q('Dynamic')}, {q('Static')})")
        config["privateIPAddress"] = x(f"if(empty({param(name)}), null(), {param(name)})")
    if nic.primary:
        config["publicIPAddress"] = x(f"if({param('CreatePublicIp')}, createObject({q('id')}, {public_id}), null())")
    if nic.lb_pools:
        name = f"LoadBalancerBackendAddressPoolsNic{k}"
        d.params.add(name, "array", "Load-balancer backend pools of NIC {k} as [{\"id\": POOL_ID}], the source "
                     "NIC's by default; an empty list keeps the VM out of the load balancer.".replace("{k}", str(k)),
                     [{"id": pool} for pool in nic.lb_pools], findings=extra)
        config["loadBalancerBackendAddressPools"] = x(param(name))
    return config
