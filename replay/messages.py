"""The replay's words shown in more than one place (dialog, toasts, API): each written here once."""

SUBMITTED = "Replay submitted"
SUBMISSION_FAILED = "Replay submission failed"
# The description of the "Replay submitted" toast; {run_id} is the new run's id, linked to its trace.
NEW_RUN = "New run: {run_id}"
# The "Write a new revision…" action of the Replay dialog; {content_hash} is the revision both fields now name.
REVISION_CREATED = "Saved a new revision: {content_hash}. Both fields now name it."
REVISION_REUSED = "This content matches an existing revision: {content_hash}. Both fields now name it."
NO_PROMPTS = "No LLM node of v{number} uses a prompt artifact."
NOT_A_VERSION_PROMPT = "Choose a prompt artifact that an LLM node of v{number} uses."
# A replay page of a run whose workflow version was deleted: there is no version to map, plan or write for.
VERSION_DELETED = "This run's workflow version was deleted."
# Beside a disabled Submit replay while the mode's fields are still empty (no alert box before anything is typed).
MODE_FIELDS_EMPTY = {
    "prompt": "Choose the prompt revision to replay with: the plan follows it.",
    "model": "Choose the model to replay with: the plan follows it.",
}
# Beside a disabled Submit replay (or Create cohort) when the plan shows nodes that will fail; {nodes} names each
# with what it misses, {remedy} what the form lets the operator change.
WILL_FAIL = "This replay would fail: {nodes}. {remedy}"
WILL_FAIL_REMEDY = "Edit the trigger payload or pick another prompt revision."
# A cohort has no payload to edit: every member keeps its own.
WILL_FAIL_REMEDY_COHORT = (
    "Pick another prompt revision, or select runs whose trigger payloads have what it reads:"
    " every member keeps its own."
)
