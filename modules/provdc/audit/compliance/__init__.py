"""The auditors' compliance suite: testinfra checks run against real hosts, never against the
machine running pytest (without `--hosts` every test here is skipped).

One file per concern, which is also what `provdc audit --scope` names: `test_baseline.py`
(every control of the catalogue), `test_bandwidth.py`, `test_segmentation.py`, `test_soc.py`.
It ships inside the package, so an installed provdc audits from any directory:

    provdc audit -i INVENTORY --out reports/audit          # the reports (JSON, JUnit, HTML)
    pytest --pyargs provdc.audit.compliance --hosts=ansible://all --ansible-inventory=INVENTORY
    pytest --pyargs provdc.audit.compliance.test_soc --hosts=ansible://all \\
        --ansible-inventory=INVENTORY -p provdc.audit.plugin --provdc-json=raw.json
"""
