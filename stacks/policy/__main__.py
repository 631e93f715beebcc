"""The provdc policy pack: `pulumi preview --policy-pack stacks/policy`.

The rules are in provdc.cloud.policy (shared with `provdc preview`); this only serves them.
Set PROVDC_STACK=<stack> so the pack applies that stack's level and region allow-list.
"""

from pulumi_policy import EnforcementLevel, PolicyPack

from provdc.cloud.pack import PACK_NAME, context, policies

PolicyPack(name=PACK_NAME, policies=policies(context()),
           enforcement_level=EnforcementLevel.MANDATORY)
