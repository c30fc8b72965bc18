"""Identifier formats and generators: one owner for each id's shape."""

import hashlib
import secrets

RUN_ID_RE = r"^run_[0-9a-f]{8,32}$"
PROMPT_ID_RE = r"^prompt_[0-9a-f]{8}$"
CONTENT_HASH_RE = r"^sha256:[0-9a-f]{64}$"
WORKFLOW_ID_RE = r"^wf_[0-9a-f]{8}$"


def new_run_id() -> str:
    return f"run_{secrets.token_hex(6)}"


def new_prompt_id() -> str:
    return f"prompt_{secrets.token_hex(4)}"


def new_workflow_id() -> str:
    return f"wf_{secrets.token_hex(4)}"


def content_hash_of(content: str) -> str:
    return "sha256:" + hashlib.sha256(content.encode("utf-8")).hexdigest()
