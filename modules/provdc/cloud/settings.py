"""Stack config (`Pulumi.<stack>.yaml`) -> validated StackSettings.

The Pulumi program reads the same keys through `pulumi.Config`; the offline preview reads
the YAML file directly. Both go through `parse_settings`, so a typo or a bad value is the
same one-paragraph error (file, key, fix) whichever way the stack is run, and it is raised
before a single resource is declared.

The `provdc:guardrails` block holds the properties the policy pack guards. Their defaults
are the secure values; they exist so that an exception is written down in the stack config
where a reviewer sees it, and the policy pack (not the program) decides whether it may pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from netaddr import IPAddress, IPNetwork
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from provdc.cloud.layout import load_balanced_services
from provdc.errors import ProvdcError, ValidationFailed
from provdc.topology.validate import Loaded, load
from provdc.yamlsource import YamlDocument

# Every key the program understands, without the "provdc:" namespace.
PROVDC_KEYS = (
    "topology", "cloud", "availabilityZones", "instanceType", "imageId", "socEmail",
    "publicNames", "certificateArn", "bucketSuffix", "externals", "wanLinks", "guardrails",
)

# Keys whose value is a list or mapping (the engine passes those as JSON text).
OBJECT_KEYS = {"cloud", "availabilityZones", "publicNames", "externals", "wanLinks", "guardrails"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CloudProfile(_Model):
    """Where the AWS API lives: AWS itself or an AWS-compatible in-country cloud."""

    name: str = Field(default="aws", description="a label for reports (aws, or the operator)")
    allowed_regions: list[str] = Field(alias="allowedRegions", min_length=1)
    endpoints: dict[str, str] = Field(
        default_factory=dict, description="service -> URL, e.g. s3: https://s3.cloud.example.vn"
    )
    ca_bundle: str | None = Field(default=None, alias="caBundle")
    s3_use_path_style: bool = Field(default=False, alias="s3UsePathStyle")
    skip_checks: bool = Field(
        default=False, alias="skipChecks",
        description="skip AWS-only credential/region/account checks (needed by most clouds)",
    )


class WanLink(_Model):
    """One TSLCD attachment: a customer gateway + site-to-site VPN towards a site."""

    site: str
    peer_ip: str | None = Field(default=None, alias="peerIp")
    bgp_asn: int = Field(default=65000, alias="bgpAsn", ge=1, le=4294967295)

    @field_validator("peer_ip")
    @classmethod
    def _ip(cls, v: str | None) -> str | None:
        if v is not None:
            IPAddress(v)  # raises on garbage; turned into a user error by parse_settings
        return v


class Guardrails(_Model):
    """The guarded properties (see module doc). Each maps to one policy rule."""

    imds_tokens: Literal["required", "optional"] = Field("required", alias="imdsTokens")
    encrypt_volumes: bool = Field(True, alias="encryptVolumes")
    bucket_encryption: Literal["aws:kms", "AES256", "none"] = Field(
        "aws:kms", alias="bucketEncryption"
    )
    kms_key_rotation: bool = Field(True, alias="kmsKeyRotation")
    block_public_access: bool = Field(True, alias="blockPublicAccess")
    public_ips: bool = Field(False, alias="publicIps")
    tls_only_buckets: bool = Field(True, alias="tlsOnlyBuckets")
    listener_protocol: Literal["HTTPS", "HTTP"] = Field("HTTPS", alias="listenerProtocol")
    admin_sources: list[str] = Field(default_factory=list, alias="adminSources")
    log_retention_days: int | None = Field(None, alias="logRetentionDays", ge=1)
    trail_multi_region: bool = Field(True, alias="trailMultiRegion")
    flow_logs: bool = Field(True, alias="flowLogs")
    restrict_default_security_group: bool = Field(True, alias="restrictDefaultSecurityGroup")
    backup_vault_lock: bool = Field(True, alias="backupVaultLock")
    backup_retention_days: int | None = Field(None, alias="backupRetentionDays", ge=1)

    @field_validator("admin_sources")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        return [str(IPNetwork(x).cidr) for x in v]


class ProvdcConfig(_Model):
    topology: str
    cloud: CloudProfile
    availability_zones: list[str] | None = Field(None, alias="availabilityZones")
    instance_type: str = Field("t3.medium", alias="instanceType")
    image_id: str | None = Field(None, alias="imageId")
    soc_email: str = Field(alias="socEmail", pattern=r"^[^@\s]+@[^@\s]+$")
    public_names: dict[str, str] = Field(default_factory=dict, alias="publicNames")
    certificate_arn: str | None = Field(None, alias="certificateArn")
    bucket_suffix: str = Field("", alias="bucketSuffix", pattern=r"^[a-z0-9-]*$")
    externals: dict[str, str] = Field(default_factory=dict)
    wan_links: list[WanLink] = Field(default_factory=list, alias="wanLinks")
    guardrails: Guardrails = Field(default_factory=Guardrails)

    @field_validator("externals")
    @classmethod
    def _externals(cls, v: dict[str, str]) -> dict[str, str]:
        return {k: str(IPNetwork(c).cidr) for k, c in v.items()}


class StackSettings:
    """The validated stack: its config, the region, and the loaded topology."""

    def __init__(self, stack: str, region: str, config: ProvdcConfig, loaded: Loaded, source: str):
        self.stack = stack
        self.region = region
        self.config = config
        self.loaded = loaded
        self.source = source

    @property
    def topology(self):
        return self.loaded.topology

    @property
    def plan(self):
        return self.loaded.plan

    @property
    def zones(self) -> list[str]:
        """The two availability zones the DC is spread over."""
        return self.config.availability_zones or [f"{self.region}a", f"{self.region}b"]


def parse_settings(
    stack: str, values: dict[str, Any], source: str, doc: YamlDocument | None = None,
    base: Path | None = None,
) -> StackSettings:
    """Validate `values` (keys with namespaces, e.g. "provdc:topology", "aws:region")."""
    def line(key: str) -> int | None:
        return doc.line_of(("config", key)) if doc else None

    unknown = [k for k in values if k.startswith("provdc:") and k[7:] not in PROVDC_KEYS]
    if unknown:
        raise ProvdcError(
            f"unknown stack config key '{unknown[0]}'", source, line(unknown[0]), unknown[0],
            f"use one of: {', '.join('provdc:' + k for k in PROVDC_KEYS)}",
        )
    region = values.get("aws:region")
    if not region:
        raise ProvdcError("the stack has no region", source, None, "aws:region",
                          "set aws:region (e.g. `pulumi config set aws:region ap-southeast-1`)")
    raw = {k[7:]: v for k, v in values.items() if k.startswith("provdc:")}
    try:
        config = ProvdcConfig.model_validate(raw)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            key = "provdc:" + ".".join(str(p) for p in err["loc"])
            top = "provdc:" + str(err["loc"][0]) if err["loc"] else "provdc"
            msg = err["msg"].removeprefix("Value error, ")
            errors.append(ProvdcError(msg, source, line(top), key,
                                      "correct the value in the stack config (see README, cloud)"))
        raise ValidationFailed(errors) from None
    topo_path = Path(config.topology)
    if base is not None and not topo_path.is_absolute():
        topo_path = base / topo_path
    loaded = load(topo_path)
    settings = StackSettings(stack, str(region), config, loaded, source)
    _check_against_topology(settings, line)
    return settings


def _check_against_topology(s: StackSettings, line) -> None:
    cfg, topo = s.config, s.topology
    # A region outside the allow-list is not an input error: the policy rule PDC-REG-01
    # reports it with its references, so that the preview and the pack say the same thing.
    if len(s.zones) != 2:
        raise ProvdcError(f"{len(s.zones)} availability zones given", s.source,
                          line("provdc:availabilityZones"), "provdc:availabilityZones",
                          "list exactly two zones; every DC zone is split in two halves")
    slugs = {site.slug for site in topo.sites}
    for i, link in enumerate(cfg.wan_links):
        if link.site not in slugs:
            raise ProvdcError(f"unknown site '{link.site}'", s.source, line("provdc:wanLinks"),
                              f"provdc:wanLinks[{i}].site",
                              "name a site slug from the topology (e.g. the province root)")
    services = {svc.slug for svc in topo.services}
    for name in cfg.public_names:
        if name not in services:
            raise ProvdcError(f"unknown service '{name}'", s.source, line("provdc:publicNames"),
                              f"provdc:publicNames.{name}", "use a service slug of the topology")
    for svc in load_balanced_services(topo):
        if svc not in cfg.public_names:
            raise ProvdcError(f"service '{svc}' sits behind the TLS load balancer but has no "
                              "public host name", s.source, line("provdc:publicNames"),
                              f"provdc:publicNames.{svc}",
                              f"add `{svc}: <host name>` under provdc:publicNames")
    if cfg.guardrails.admin_sources and not any(x.role == "bastion" for x in topo.services):
        raise ProvdcError("adminSources is set but the topology has no bastion", s.source,
                          line("provdc:guardrails"), "provdc:guardrails.adminSources",
                          "add a service with role: bastion, or remove adminSources")
    for i, flow in enumerate(topo.flows):
        for end in (flow.source, flow.to):
            kind, _, name = end.partition(":")
            if kind == "external" and name != "internet" and name not in cfg.externals:
                raise ProvdcError(
                    f"flow {i} uses 'external:{name}' but the stack does not say where it is",
                    s.source, line("provdc:externals"), f"provdc:externals.{name}",
                    f"add `{name}: <CIDR>` under provdc:externals",
                )


PROJECT_FILES = ("Pulumi.yaml", "Pulumi.yml")


def project_dir(root: Path, field: str = "--root") -> Path:
    """`root` if it is a Pulumi project (it holds Pulumi.yaml), else one paragraph: provdc
    takes the project from the caller, never from where it is installed."""
    if not any((root / name).is_file() for name in PROJECT_FILES):
        raise ProvdcError("not a Pulumi project (it has no Pulumi.yaml)", str(root.absolute()),
                          None, field, "run in the project directory (where Pulumi.yaml and "
                          "Pulumi.<stack>.yaml are) or name it with --root DIR")
    return root


def stack_names(root: Path) -> list[str]:
    """The stacks of a project: one Pulumi.<stack>.yaml each."""
    names = sorted(p.name[7:-5] for p in root.glob("Pulumi.*.yaml"))
    if not names:
        raise ProvdcError("the project has no stack config", str(root), None, "--root",
                          "create Pulumi.<stack>.yaml (start from Pulumi.soctrang.yaml)")
    return names


def load_stack_file(stack: str, root: Path = Path(".")) -> StackSettings:
    """Read and validate `Pulumi.<stack>.yaml` of the project `root` (the offline preview)."""
    project_dir(root)
    path = root / f"Pulumi.{stack}.yaml"
    shown = str(path) if root != Path(".") else path.name
    if not path.is_file():
        known = sorted(p.name[7:-5] for p in root.glob("Pulumi.*.yaml"))
        raise ProvdcError(f"no stack config for stack '{stack}'", shown, None, "--stack",
                          f"use one of: {', '.join(known) or '(none)'}, or create {path.name}")
    doc = YamlDocument(path)
    data = doc.data if isinstance(doc.data, dict) else {}
    values = data.get("config")
    if not isinstance(values, dict):
        raise ProvdcError("the file has no `config:` mapping", shown, 1, "config",
                          "start from Pulumi.soctrang.yaml")
    return parse_settings(stack, values, shown, doc, root)


def from_pulumi_config(root: Path) -> StackSettings:
    """Inside `pulumi up/preview`: read the same keys through pulumi.Config. Relative paths
    (the topology) are taken from `root`, the directory of Pulumi.yaml, whatever the cwd."""
    import pulumi

    provdc = pulumi.Config("provdc")
    values: dict[str, Any] = {"aws:region": pulumi.Config("aws").get("region")}
    for key in PROVDC_KEYS:
        value = provdc.get_object(key) if key in OBJECT_KEYS else provdc.get(key)
        if value is not None:
            values[f"provdc:{key}"] = value
    stack = pulumi.get_stack()
    return parse_settings(stack, values, f"Pulumi.{stack}.yaml", base=root)
