"""The data centre as a picture: zones, their services, the allowed flows between them and
the TSLCD tiers with their bandwidth policies (`provdc plan --diagram FILE.svg`, and the
design part of the security-level dossier).

`model` turns a validated topology into boxes and links (pure data); `svg` draws them.
"""

from provdc.diagram.model import Diagram, build
from provdc.diagram.svg import render, write_svg

__all__ = ["Diagram", "build", "render", "write_svg"]
