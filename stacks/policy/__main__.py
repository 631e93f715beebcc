"""The provdc policy pack: `pulumi preview --policy-pack stacks/policy --policy-pack-config F`.

The rules are in provdc.cloud.policy (shared with `provdc preview`); this only serves them.
A stack's region allow-list and security level come from the pack's config F (written by
`provdc cloud policy-config --stack STACK --out F`). Without one, strictest.json next to this
file applies: the strictest values over every stack of the project. The pack reads nothing
outside its own directory, so it can be published as it is.
"""

import sys
from pathlib import Path

from pulumi_policy import EnforcementLevel, PolicyPack

from provdc.cloud.pack import DEFAULTS_FILE, PACK_NAME, load_defaults, policies
from provdc.errors import ProvdcError

try:
    DEFAULTS = load_defaults(Path(__file__).resolve().parent / DEFAULTS_FILE)
except ProvdcError as exc:  # one paragraph for the Pulumi CLI to show, not a traceback
    sys.exit(f"error: {exc}")

PolicyPack(name=PACK_NAME, policies=policies(DEFAULTS),
           enforcement_level=EnforcementLevel.MANDATORY)
