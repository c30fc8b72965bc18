"""The replay's words shown in more than one place (dialog, toasts, API): each written here once."""

SUBMITTED = "Replay submitted"
SUBMISSION_FAILED = "Replay submission failed"
# The description of the "Replay submitted" toast; {run_id} is the new run's id, linked to its trace.
NEW_RUN = "New run: {run_id}"
