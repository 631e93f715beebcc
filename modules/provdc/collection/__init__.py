"""The controller side of the `provdc.idc` Ansible collection that lives in the package.

The collection's plugins (`playbooks/collections/ansible_collections/provdc/idc/plugins/`)
are a thin Ansible-facing layer: they read their options and call the functions here and in
the feature packages, so the collection works wherever this package is importable by the
Python that runs Ansible. Layer: a front end, like `cli` (it reads the lab's state and the
cloud stack's outputs).
"""
