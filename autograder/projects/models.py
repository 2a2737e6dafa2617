"""The gradebook's project tables: mentor-proposed projects, learners' claims with their
milestones, and the peer-matching opt-in. Same declarative Base as models.py (which
imports this module, so Alembic and ``Base.metadata`` see these tables); migration 0002.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, Date, DateTime, Enum, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from autograder.gradebook.models import Base, Cohort, User, utcnow


class ProposalStatus(enum.StrEnum):
    open = "open"
    closed = "closed"


class ClaimStatus(enum.StrEnum):
    active = "active"
    done = "done"
    dropped = "dropped"


class Proposal(Base):
    """A project a mentor proposes (through the API or the dashboard), or one a course ships
    (projects/*.toml, and every "Going further" question of a replication lesson).

    ``key`` is the stable name a course file gives it ("file:<id>", "going-further:<lesson>:<n>"),
    so importing the same files again updates rather than duplicates; posted ones have none.
    """

    __tablename__ = "proposals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str | None] = mapped_column(String(200), unique=True, nullable=True)
    title: Mapped[str] = mapped_column(String(200))
    question: Mapped[str] = mapped_column(Text)
    lesson: Mapped[str] = mapped_column(String(120), index=True)  # the lesson slug it starts from
    checkpoint: Mapped[str] = mapped_column(String(200), default="")  # a course model name, or ""
    difficulty: Mapped[int] = mapped_column(Integer, default=3)  # 1-5, like an exercise's
    prerequisites: Mapped[list] = mapped_column(JSON, default=list)  # lesson slugs that must be passed
    mentor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    mentor_name: Mapped[str] = mapped_column(String(120), default="")  # for a course file's free-text mentor
    cohort_id: Mapped[int | None] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"), nullable=True,
                                                  index=True)  # None: every learner may see it
    max_claims: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: no limit
    status: Mapped[ProposalStatus] = mapped_column(Enum(ProposalStatus, native_enum=False, length=20),
                                                   default=ProposalStatus.open)
    source: Mapped[str] = mapped_column(String(40), default="posted")  # posted | file | going-further
    source_path: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    mentor: Mapped[User | None] = relationship()
    cohort: Mapped[Cohort | None] = relationship()
    claims: Mapped[list[Claim]] = relationship(back_populates="proposal", cascade="all, delete-orphan",
                                               order_by="Claim.claimed_at")

    @property
    def mentor_label(self) -> str:
        return self.mentor.username if self.mentor else self.mentor_name

    def active_claims(self) -> list[Claim]:
        return [c for c in self.claims if c.status != ClaimStatus.dropped]


class Claim(Base):
    """A learner working on a proposal."""

    __tablename__ = "claims"
    __table_args__ = (UniqueConstraint("proposal_id", "user_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[ClaimStatus] = mapped_column(Enum(ClaimStatus, native_enum=False, length=20),
                                                default=ClaimStatus.active)
    note: Mapped[str] = mapped_column(Text, default="")
    claimed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    proposal: Mapped[Proposal] = relationship(back_populates="claims")
    user: Mapped[User] = relationship()
    milestones: Mapped[list[Milestone]] = relationship(back_populates="claim", cascade="all, delete-orphan",
                                                       order_by="Milestone.due")


class Milestone(Base):
    """One dated step of a claim (from the learner's research plan): a title and a due date."""

    __tablename__ = "milestones"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    due: Mapped[date] = mapped_column(Date)
    done_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    claim: Mapped[Claim] = relationship(back_populates="milestones")


class PeerOptIn(Base):
    """A learner who agreed to be seen by peers (same proposal, or same lesson in a shared cohort)."""

    __tablename__ = "peer_optins"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    contact: Mapped[str] = mapped_column(String(200), default="")  # what peers may use to reach them
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    user: Mapped[User] = relationship()
