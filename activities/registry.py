"""Every activity the worker registers, bound to one set of dependencies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.deps import Deps
from activities.embassy_lists import EmbassyListActivities
from activities.funding import FundingActivities
from activities.identity import IdentityActivities
from activities.notices import NoticeActivities
from activities.paperwork import PaperworkActivities
from activities.read_model import ReadModelActivities
from activities.travel import TravelActivities


def build_activities(deps: Deps) -> list[Callable[..., Any]]:
    read_model = ReadModelActivities(deps)
    identity = IdentityActivities(deps)
    paperwork = PaperworkActivities(deps)
    funding = FundingActivities(deps)
    travel = TravelActivities(deps)
    notices = NoticeActivities(deps)
    lists = EmbassyListActivities(deps)
    return [
        read_model.sync_read_model,
        read_model.record_decision,
        identity.run_identity_checks,
        paperwork.render_document,
        funding.estimate_costs,
        funding.commit_funds,
        funding.release_funds,
        travel.search_flights,
        travel.book_flight,
        travel.cancel_booking,
        notices.send_notice,
        lists.send_embassy_lists,
    ]
