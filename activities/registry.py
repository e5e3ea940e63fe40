"""Every activity the worker registers, bound to one set of dependencies: those of the workflow's
task queue, and those of the paperwork queue (documents, rendered by priority)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from activities.deps import Deps
from activities.embassy_lists import EmbassyListActivities
from activities.embassy_requests import EmbassyRequestActivities
from activities.funding import FundingActivities
from activities.identity import IdentityActivities
from activities.notices import NoticeActivities
from activities.paperwork import PaperworkActivities
from activities.read_model import ReadModelActivities
from activities.travel import TravelActivities


@dataclass(frozen=True)
class Activities:
    main: list[Callable[..., Any]]
    paperwork: list[Callable[..., Any]]


def build_activities(deps: Deps) -> Activities:
    read_model = ReadModelActivities(deps)
    identity = IdentityActivities(deps)
    paperwork = PaperworkActivities(deps)
    funding = FundingActivities(deps)
    travel = TravelActivities(deps)
    notices = NoticeActivities(deps)
    lists = EmbassyListActivities(deps)
    requests = EmbassyRequestActivities(deps)
    return Activities(
        main=[
            read_model.sync_read_model,
            read_model.record_decision,
            identity.run_identity_checks,
            # Cases opened before v3 render on the workflow's own queue.
            paperwork.render_document,
            funding.estimate_costs,
            funding.commit_funds,
            funding.release_funds,
            travel.search_flights,
            travel.book_flight,
            travel.cancel_booking,
            notices.send_notice,
            lists.send_embassy_lists,
            requests.join_embassy_request,
        ],
        paperwork=[paperwork.render_document, requests.send_embassy_request],
    )
