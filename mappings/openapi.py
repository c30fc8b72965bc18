"""The description of the saved node mappings API, beside its URL in config/urls.py."""

from runs.http.openapi import Operation

from . import api
from .shapes import Mapping, MappingList

TAG = "Node mappings"
NOT_FOUND = {404: "No such workflow in this workspace, or no such source or target version."}


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
        # The body names the version pair (MappingBody requires it); the query string may repeat it, as for a GET.
        query=api.VersionPair,
        body=api.MappingBody,
        response=Mapping,
        errors={
            **NOT_FOUND,
            422: "A pair names a node that is not renamed, or a target that is not a node of the target version or that another pair already names.",
        },
        codes={422: ("not_renamed", "unknown_target", "duplicate_target")},
    ),
]
