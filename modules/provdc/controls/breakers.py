"""Breakers: how to put a hardened host out of compliance with exactly one control.

Used by the integration tests to prove that every check can fail, and fails alone: for each
control, break it on a hardened host, audit, restore. Each kind's folder says how, driven by
the control's own parameters (its `bad` values, its `breaker` snippet, its `foreign` file).

Foreign breakers are drift written by someone else, outside the files the role manages: a
Match block at the end of sshd_config, a later sudoers or journald file, a profile script
read before ours, a rule inserted at the top of the live firewall chain. The check must catch
it by reading the effective state and name the foreign file or rule. Controls without one
are listed in README.md (hardening).
"""

from __future__ import annotations

from provdc.controls import kinds
from provdc.controls.base import Breaker
from provdc.controls.model import Control


def breaker(control: Control, in_container: bool) -> Breaker:
    return kinds.breaker(control, in_container)


def foreign_breakers(controls: list[Control]) -> dict[str, Breaker]:
    """control id -> a breaker that leaves the role's own files alone."""
    out = {}
    for control in controls:
        made = kinds.foreign_breaker(control)
        if made is not None:
            out[control.id] = made
    return out
