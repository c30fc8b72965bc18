"""The saved node mappings API's answers, declared once: the view builds them, the OpenAPI document reads them."""

from datetime import datetime
from typing import Literal

from runs.http.openapi import Closed


class Mapping(Closed):
    source_version: int
    target_version: int
    visibility: Literal["operator", "workspace"]
    owner: str
    updated_at: datetime
    pairs: dict[str, str]


class MappingList(Closed):
    """The caller's own mapping and the workspace's shared one, when they exist."""

    mappings: list[Mapping]
