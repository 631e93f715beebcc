"""Shared pytest configuration: the local-lab fixtures (`lab`, `fresh_host`) for every suite."""

pytest_plugins = ["provdc.lab.pytest_plugin"]
