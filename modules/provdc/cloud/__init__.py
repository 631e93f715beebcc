"""The cloud data centre: Pulumi components, policy rules, offline preview, boto3 tooling.

Layout (one place per idea):
- settings.py   stack config (Pulumi.<stack>.yaml) -> StackSettings, validated up front
- (log retention by security level: provdc.topology.retention, shared with the SOC)
- layout.py     pure address/flow arithmetic (subnets per AZ, host IPs, SG rules, routes)
- components/   the ComponentResources the program is built from
- program.py    the program itself: build(settings, loaded) -> stack outputs
- policy.py     the policy rules, plain functions over (type, props), shared by the
                pulumi-policy pack (stacks/policy) and the offline preview
- preview.py    runs the program under recording mocks and evaluates the rules
- state.py, audit.py, report.py   boto3: state bucket bootstrap, detective checks, reports
- inventory.py  stack outputs + topology -> Ansible inventory
"""
