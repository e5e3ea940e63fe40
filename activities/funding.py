"""Funding: the cost estimate and the ledger (commit on approval, release on compensation)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deps import Deps
from activities.profiles import load_profile
from booking.provider import DESTINATION_AIRPORT
from contracts.messages import CommitFunds, EstimateInput, ReleaseFunds
from contracts.state import CostEstimate, CostLine, FundingCommitment
from contracts.survivor import SurvivorProfile
from database import ledger
from repatriation.logs import get_logger

# Planning figures in USD; the approval memo shows them line by line.
FARE_BY_AIRPORT = {
    "SGN": 180,
    "HAN": 220,
    "BKK": 160,
    "VTE": 240,
    "RGN": 320,
    "CGK": 380,
    "MNL": 420,
    "KUL": 200,
    "PVG": 520,
    "PEK": 560,
    "CAN": 460,
    "DEL": 540,
    "DAC": 560,
    "KTM": 600,
    "CMB": 620,
    "ISB": 700,
    "ICN": 620,
    "NRT": 680,
    "TPE": 480,
}
DEFAULT_FARE = 900
OVERSTAY_FINE_PER_DAY = Decimal(10)
EXIT_PERMIT = Decimal(30)
PER_DIEM = Decimal(15)
PER_DIEM_DAYS = 10
MEDICAL_ALLOWANCE = Decimal(150)
VISA_DAYS_WHEN_UNKNOWN = 30


def overstay_days(profile: SurvivorProfile, today: date) -> int:
    if profile.visa_valid_until is not None:
        end = profile.visa_valid_until
    elif profile.entered_host_country_on is not None:
        end = profile.entered_host_country_on + timedelta(days=VISA_DAYS_WHEN_UNKNOWN)
    else:
        return 0
    return max((today - end).days, 0)


def estimate(profile: SurvivorProfile, today: date) -> CostEstimate:
    airport = DESTINATION_AIRPORT.get(profile.nationality)
    fare = Decimal(FARE_BY_AIRPORT.get(airport or "", DEFAULT_FARE))
    lines = [CostLine(item="flight", amount=fare, note=f"PNH to {airport or 'capital'}, one way")]
    vulnerable = profile.vulnerabilities
    minor = profile.age_on(today) < 18
    if minor or vulnerable.medical_needs or vulnerable.pregnant_weeks or vulnerable.disability:
        lines.append(CostLine(item="escort", amount=fare * 2, note="escort's return journey"))
    days = overstay_days(profile, today)
    if days:
        lines.append(
            CostLine(
                item="overstay_fine",
                amount=OVERSTAY_FINE_PER_DAY * days,
                note=f"{days} days at USD 10; waiver requested",
            )
        )
    lines.append(CostLine(item="exit_permit", amount=EXIT_PERMIT))
    lines.append(CostLine(item="per_diem", amount=PER_DIEM * PER_DIEM_DAYS, note=f"{PER_DIEM_DAYS} days"))
    if vulnerable.medical_needs or vulnerable.pregnant_weeks:
        lines.append(CostLine(item="medical", amount=MEDICAL_ALLOWANCE, note="fit-to-fly, care"))
    return CostEstimate(currency="USD", lines=lines, overstay_days=days)


class FundingActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    @activity.defn(name="estimate_costs")
    def estimate_costs(self, request: EstimateInput) -> CostEstimate:
        with self.deps.db.session() as session:
            profile = load_profile(session, request.case_id)
        return estimate(profile, request.today)

    @activity.defn(name="commit_funds")
    def commit_funds(self, request: CommitFunds) -> FundingCommitment:
        try:
            commitment = ledger.commit_funds(self.deps.db, request)
        except ledger.LedgerError as err:
            raise ApplicationError(str(err), type=type(err).__name__, non_retryable=True) from err
        get_logger(case_id=request.case_id, stage="funding").info(
            "funds committed", source=request.source_id, amount=str(request.amount)
        )
        return commitment

    @activity.defn(name="release_funds")
    def release_funds(self, request: ReleaseFunds) -> list[FundingCommitment]:
        released = ledger.release_funds(self.deps.db, request.case_id, request.reason)
        get_logger(case_id=request.case_id, stage="funding").info("funds released", commitments=len(released))
        return released
