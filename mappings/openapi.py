"""The description of the saved node mappings API, beside its URL in config/urls.py."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from runs.http.openapi import Operation

from . import api

TAG = "Node mappings"
NOT_FOUND = {404: "No such workflow in this workspace, or no such source or target version."}


class Mapping(BaseModel):
    source_version: int
    target_version: int
    visibility: Literal["operator", "workspace"]
    owner: str
    updated_at: datetime
    pairs: dict[str, str]


class MappingList(BaseModel):
    """The caller's own mapping and the workspace's shared one, when they exist."""

    mappings: list[Mapping]


OPERATIONS = [
    Operation(
        api.mappings,
        "GET",
        "listMappings",
        "The saved node mappings of a version pair visible to the caller",
        TAG,
        query=api.VersionPair,
        query_required=True,
        response=MappingList,
        errors={400: "A version pair parameter is missing or malformed, or the versions are the same.", **NOT_FOUND},
    ),
    Operation(
        api.mappings,
        "PUT",
        "saveMapping",
        "Save a node mapping for a version pair",
        TAG,
        query=api.VersionPair,
        query_required=True,
        body=api.MappingBody,
        response=Mapping,
        errors={
            **NOT_FOUND,
            422: "A pair names a node that is not renamed, or a target that is not a node of the target version.",
        },
    ),
]
