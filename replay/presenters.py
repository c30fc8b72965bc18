"""The plan panel's node rows and Start from's options, built in Python with format_html as the trace's step rows
are (runs/web/presenters.py).

A plan of 1,000 nodes rendered through a template include per row spent most of the dialog's request in the
template engine resolving each row's variables; every value here is escaped by construction.
"""

from collections.abc import Collection, Iterable

from django.utils.html import format_html
from django.utils.safestring import SafeString

from runs.engine.replay_plan import Action, Disposition, NodePlan

from .messages import WILL_FAIL, WILL_FAIL_REMEDY

ROW = '<li><code>{}</code>{}{}{} <span class="muted">{}</span></li>\n'
FAILING_ROW = (
    '<li><code>{}</code>{}{}{} <span class="chip chip-fail">will fail</span> <span class="plan-fails">{}</span></li>\n'
)
ACTION_CHIPS = {
    Action.REUSE: SafeString(' <span class="chip chip-reuse">reused</span>'),
    Action.DROP: SafeString(' <span class="chip chip-drop">dropped</span>'),
}
MAPPED = ' <span class="chip">mapped from {}</span>'
DRY_RUN = SafeString(' <span class="chip chip-dry-run">dry-run</span>')
INVOKE = SafeString(' <span class="chip chip-invoke">will invoke</span>')
RECORDED = SafeString(' <span class="chip chip-recorded">recorded</span>')
NOTHING = SafeString("")


def _call_chip(node: NodePlan) -> SafeString:
    if node.mutating and node.disposition == Disposition.DRY_RUN:
        return DRY_RUN
    if node.mutating and node.disposition == Disposition.INVOKE:
        return INVOKE
    if node.disposition == Disposition.RECORDED:
        return RECORDED
    return NOTHING


def plan_row(node: NodePlan) -> SafeString:
    """One node of the plan: its id, what happens to it (reused, dropped, its tool call) and why."""
    return format_html(
        FAILING_ROW if node.will_fail else ROW,
        node.node_id,
        ACTION_CHIPS.get(node.action, NOTHING),
        format_html(MAPPED, node.mapped_from) if node.mapped_from else NOTHING,
        _call_chip(node),
        node.will_fail or node.reason,  # beside the "will fail" chip: what it misses, not "will fail" again
    )


def plan_rows(nodes: Iterable[NodePlan]) -> SafeString:
    return SafeString("".join(plan_row(n) for n in nodes))


FIRST_OPTION = '<option value=""{}>{} (the first node: every node runs)</option>'
OPTION = '<option value="{}"{}>{}</option>'
SELECTED = SafeString(" selected")


def start_options(start_nodes: list[str], start_from: str) -> SafeString:
    """Start from's options: the first node (the whole replay) unless another node is the start, then every other."""
    if not start_nodes:
        return NOTHING
    first, *others = start_nodes
    options = [format_html(FIRST_OPTION, SELECTED if first == start_from or not start_from else NOTHING, first)]
    options += [format_html(OPTION, n, SELECTED if n == start_from else NOTHING, n) for n in others]
    return SafeString("".join(options))


def submit_blocked(refusal, plan, remedy: str = WILL_FAIL_REMEDY, failed_before: Collection[str] = ()) -> str:
    """What Submit says when the plan already shows it cannot succeed: the refusal, or the nodes that will fail and
    `remedy`, what the form lets the operator change.

    The cohort form's Create waits on it too, for its first member's plan: one rule, one wording. There a node
    whose original failed too (`failed_before`) holds nothing: that member fails as it did, beside the others."""
    if refusal is not None:
        return refusal.message
    failing = [n for n in plan.failing if n.node_id not in failed_before] if plan is not None else []
    if failing:
        nodes = "; ".join(f"{n.node_id} will fail: {n.will_fail}" for n in failing)
        return WILL_FAIL.format(nodes=nodes, remedy=remedy)
    return ""
