"""Mentor-proposed projects: who may see and claim what, peer matching, and the proposals a
course ships (``projects/*.toml`` and the "Going further" questions of replication lessons).

"Passed a lesson" means: a graded submission of that lesson has all of its auto-graded points
(``score >= max_score > 0``, hidden tests included). Integrity flags do not change it: the
grader already restored tampered test cells and zeroed exercises whose helpers were patched,
so a full score is a full score; the transcript lists the flags beside it. Proposals list the lessons
(slugs) a learner must have passed before claiming; by default, the lesson they start from.

The course file format, one or more proposals per file (``projects/<anything>.toml``)::

    [[proposal]]
    id = "grokking-other-operations"   # stable: importing again updates it, never duplicates
    title = "Does grokking happen for subtraction and division?"
    question = '''Train the 4.1 model on (a - b) mod p and (a / b) mod p ...'''
    lesson = "4.1"                     # the lesson (id or slug) it starts from
    checkpoint = "grokking-p113"       # optional: a course model name
    difficulty = 3                     # optional, 1-5 (default 3)
    prerequisites = ["4.1", "3.1"]     # optional (default: [lesson])
    mentor = "ada"                     # optional: a mentor's username, or any name
    cohort = "spring"                  # optional: only this cohort's learners see it
    max_claims = 2                     # optional: how many learners may claim it
    status = "open"                    # optional: open | closed
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import func, select

from autograder.gradebook.models import Cohort, Role, Submission, SubmissionStatus, User, utcnow
from autograder.projects.models import Claim, ClaimStatus, Milestone, PeerOptIn, Proposal, ProposalStatus
from course.authoring.lessons import LessonError, all_lessons, find_lesson

REPLICATION_MODULES = ("4",)  # lessons whose "Going further" questions become proposals
PROJECTS_DIR = "projects"


class ProjectError(Exception):
    """Bad input or a refused action: an HTTP status, a one-line reason, and extra JSON fields."""

    def __init__(self, status: int, detail: str, **extra):
        super().__init__(detail)
        self.status, self.detail, self.extra = status, detail, extra


# --------------------------------------------------------------------------- input shapes
class MilestoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    due: date
    done: bool = False


class ProposalIn(BaseModel):
    """What a mentor posts (POST /api/proposals, the dashboard form) and a course file holds."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=3, max_length=200)
    question: str = Field(min_length=10, max_length=20000)
    lesson: str = Field(min_length=1, max_length=120)
    checkpoint: str = Field("", max_length=200)
    difficulty: int = Field(3, ge=1, le=5)
    prerequisites: list[str] | None = Field(None, max_length=40)  # None: [lesson]
    cohort: str | None = Field(None, max_length=120)
    max_claims: int | None = Field(None, ge=1, le=10000)
    mentor: str | None = Field(None, max_length=120)  # posted: instructors only, a mentor's username

    @field_validator("title", "question", "lesson")
    @classmethod
    def _strip(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("must not be blank")
        return v


class FileProposal(ProposalIn):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,150}$")
    status: ProposalStatus | None = None


class ProposalPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: ProposalStatus | None = None
    title: str | None = Field(None, min_length=3, max_length=200)
    question: str | None = Field(None, min_length=10, max_length=20000)
    difficulty: int | None = Field(None, ge=1, le=5)
    max_claims: int | None = Field(None, ge=1, le=10000)


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field("", max_length=2000)
    milestones: list[MilestoneIn] = Field(default_factory=list, max_length=30)


class ClaimPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: ClaimStatus | None = None
    note: str | None = Field(None, max_length=2000)
    milestones: list[MilestoneIn] | None = Field(None, max_length=30)  # replaces the list


class OptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contact: str = Field("", max_length=200)


def first_error(err: ValidationError) -> str:
    e = err.errors()[0]
    where = ".".join(str(x) for x in e.get("loc", ()))
    return f"{where}: {e.get('msg', 'invalid')}" if where else str(e.get("msg", "invalid"))


# --------------------------------------------------------------------------- lessons and passing
def lesson_slug(root: Path, name: str) -> str:
    try:
        return find_lesson(str(name), root).slug
    except LessonError:
        raise ProjectError(422, f"unknown lesson {name!r}") from None


def lesson_header(path: Path) -> dict:
    """The ``course:`` block of a lesson source's header, read without jupytext (cached by mtime):
    a transcript names every lesson, and parsing whole sources for titles is slow."""
    try:
        return dict(_header(str(path), path.stat().st_mtime_ns))
    except (OSError, ValueError):
        return {}


@lru_cache(maxsize=512)
def _header(path: str, _mtime: int) -> tuple:
    import yaml

    lines = []
    with open(path, encoding="utf-8") as f:
        if f.readline().strip() != "# ---":
            return ()
        for line in f:
            if line.strip() == "# ---":
                break
            lines.append(line[2:] if line.startswith("# ") else line.lstrip("#"))
    try:
        meta = yaml.safe_load("".join(lines)) or {}
    except yaml.YAMLError as err:
        raise ValueError(str(err)) from None
    course = (meta.get("jupyter") or {}).get("course") or {}
    return tuple(course.items()) if isinstance(course, dict) else ()


def lesson_titles(root: Path) -> dict[str, str]:
    return {lesson.slug: str(lesson_header(lesson.source).get("title", lesson.slug)) for lesson in all_lessons(root)}


def is_pass(sub: Submission) -> bool:
    return (sub.status == SubmissionStatus.graded and bool(sub.max_score) and sub.score is not None
            and sub.score >= sub.max_score - 1e-9)


def passed_lessons(s, user_id: int) -> dict[str, Submission]:
    """{lesson slug: the first submission that passed it} for one learner."""
    out: dict[str, Submission] = {}
    rows = s.scalars(select(Submission).where(Submission.user_id == user_id,
                                              Submission.status == SubmissionStatus.graded)
                     .order_by(Submission.created_at))
    for sub in rows:
        if sub.lesson not in out and is_pass(sub):
            out[sub.lesson] = sub
    return out


def missing_prerequisites(proposal: Proposal, passed: set[str] | dict) -> list[str]:
    return [p for p in (proposal.prerequisites or []) if p not in passed]


# --------------------------------------------------------------------------- visibility
def can_see_proposal(user: User, p: Proposal) -> bool:
    if user.role == Role.instructor:
        return True
    if p.cohort_id is None:
        return user.role == Role.mentor or p.status == ProposalStatus.open or _claimed_by(p, user)
    if user.role == Role.mentor:
        return p.cohort in user.mentoring
    return p.cohort in user.cohorts and (p.status == ProposalStatus.open or _claimed_by(p, user))


def can_manage_proposal(user: User, p: Proposal) -> bool:
    if user.role == Role.instructor:
        return True
    if user.role != Role.mentor:
        return False
    return p.mentor_id == user.id or (p.cohort is not None and p.cohort in user.mentoring)


def _claimed_by(p: Proposal, user: User) -> bool:
    return any(c.user_id == user.id for c in p.claims)


def get_proposal(s, user: User, proposal_id: int) -> Proposal:
    p = s.get(Proposal, proposal_id)
    if p is None or not can_see_proposal(user, p):
        raise ProjectError(404, f"no proposal {proposal_id} that you can see")
    return p


def visible_proposals(s, user: User) -> list[Proposal]:
    rows = s.scalars(select(Proposal).order_by(Proposal.lesson, Proposal.id)).all()
    return [p for p in rows if can_see_proposal(user, p)]


def visible_claim(s, user: User, claim_id: int) -> Claim:
    from autograder.gradebook.accounts import visible_learner_ids

    c = s.get(Claim, claim_id)
    allowed = visible_learner_ids(s, user)
    if c is None or (allowed is not None and c.user_id not in allowed):
        raise ProjectError(404, f"no claim {claim_id} that you can see")
    return c


# --------------------------------------------------------------------------- JSON
def milestone_json(m: Milestone) -> dict:
    return {"id": m.id, "title": m.title, "due": m.due.isoformat(), "done": m.done_at is not None}


def claim_json(c: Claim) -> dict:
    return {"id": c.id, "proposal": c.proposal_id, "title": c.proposal.title, "lesson": c.proposal.lesson,
            "learner": c.user.username, "status": c.status.value, "note": c.note,
            "claimed_at": c.claimed_at.isoformat() + "Z", "milestones": [milestone_json(m) for m in c.milestones]}


def proposal_json(p: Proposal, viewer: User, passed: set[str] | dict | None = None,
                  visible_learners: set[int] | None = None) -> dict:
    d = {"id": p.id, "title": p.title, "question": p.question, "lesson": p.lesson, "checkpoint": p.checkpoint,
         "difficulty": p.difficulty, "prerequisites": list(p.prerequisites or []), "mentor": p.mentor_label,
         "cohort": p.cohort.name if p.cohort else None, "max_claims": p.max_claims, "status": p.status.value,
         "source": p.source, "claims": len(p.active_claims())}
    if viewer.role == Role.learner:
        missing = missing_prerequisites(p, passed or {})
        d["missing"] = missing
        d["eligible"] = not missing
        d["claimed"] = any(c.user_id == viewer.id and c.status != ClaimStatus.dropped for c in p.claims)
    else:
        d["claimants"] = [c.user.username for c in p.active_claims()
                          if visible_learners is None or c.user_id in visible_learners]
    return d


# --------------------------------------------------------------------------- actions
def _resolve(root: Path, data: ProposalIn) -> dict:
    lesson = lesson_slug(root, data.lesson)
    prereqs = [lesson] if data.prerequisites is None else []
    for name in data.prerequisites or []:
        slug = lesson_slug(root, name)
        if slug not in prereqs:
            prereqs.append(slug)
    return {"title": data.title, "question": data.question, "lesson": lesson, "checkpoint": data.checkpoint.strip(),
            "difficulty": data.difficulty, "prerequisites": prereqs, "max_claims": data.max_claims}


def create_proposal(s, poster: User, data: ProposalIn, root: Path) -> Proposal:
    if poster.role == Role.learner:
        raise ProjectError(403, "only a mentor or an instructor can post a proposal")
    fields = _resolve(root, data)
    cohort = None
    if data.cohort:
        cohort = s.scalar(select(Cohort).where(Cohort.name == data.cohort))
        if cohort is None or not (poster.role == Role.instructor or cohort in poster.mentoring):
            raise ProjectError(404, f"no cohort {data.cohort!r} that you can see")
    mentor = poster
    if data.mentor and data.mentor != poster.username:
        if poster.role != Role.instructor:
            raise ProjectError(403, "only an instructor can post a proposal in another mentor's name")
        mentor = s.scalar(select(User).where(User.username == data.mentor))
        if mentor is None or mentor.role == Role.learner:
            raise ProjectError(422, f"mentor: no mentor or instructor called {data.mentor!r}")
    p = Proposal(**fields, mentor=mentor, cohort=cohort, source="posted")
    s.add(p)
    s.flush()
    return p


def update_proposal(s, user: User, p: Proposal, patch: ProposalPatch) -> Proposal:
    if user.role == Role.learner:
        raise ProjectError(403, "only a mentor or an instructor can change a proposal")
    if not can_manage_proposal(user, p):
        raise ProjectError(403, f"proposal {p.id} is not yours to change: ask its mentor or an instructor")
    for name in patch.model_fields_set:
        value = getattr(patch, name)
        if value is None and name != "max_claims":
            continue
        if name in ("title", "question"):
            value = value.strip()
        setattr(p, name, ProposalStatus(value) if name == "status" else value)
    p.updated_at = utcnow()
    return p


def claim(s, learner: User, p: Proposal, data: ClaimIn) -> Claim:
    if learner.role != Role.learner:
        raise ProjectError(403, "only learners claim proposals")
    if p.status != ProposalStatus.open:
        raise ProjectError(409, f"proposal {p.id} is closed")
    mine = next((c for c in p.claims if c.user_id == learner.id), None)
    if mine is not None and mine.status != ClaimStatus.dropped:
        raise ProjectError(409, f"you already claimed proposal {p.id} (claim {mine.id})")
    if p.max_claims is not None and len(p.active_claims()) >= p.max_claims:
        raise ProjectError(409, f"proposal {p.id} is taken: {p.max_claims} learner(s) already work on it")
    missing = missing_prerequisites(p, passed_lessons(s, learner.id))
    if missing:
        raise ProjectError(403, "you have not passed the prerequisites of proposal "
                           f"{p.id}: {', '.join(missing)} (a pass is a graded submission with every point)",
                           missing=missing)
    if mine is None:
        mine = Claim(proposal=p, user=learner)
        s.add(mine)
    mine.status, mine.note, mine.claimed_at, mine.updated_at = ClaimStatus.active, data.note.strip(), utcnow(), utcnow()
    _set_milestones(mine, data.milestones)
    s.flush()
    return mine


def update_claim(s, user: User, c: Claim, patch: ClaimPatch) -> Claim:
    if patch.status is not None:
        c.status = ClaimStatus(patch.status)
    if patch.note is not None:
        c.note = patch.note.strip()
    if patch.milestones is not None:
        _set_milestones(c, patch.milestones)
    c.updated_at = utcnow()
    s.flush()
    return c


def _set_milestones(c: Claim, items: list[MilestoneIn]) -> None:
    old = {(m.title, m.due): m.done_at for m in c.milestones}
    c.milestones.clear()
    for m in items:
        done_at = (old.get((m.title.strip(), m.due)) or utcnow()) if m.done else None
        c.milestones.append(Milestone(title=m.title.strip(), due=m.due, done_at=done_at))


def set_optin(s, learner: User, contact: str | None) -> PeerOptIn | None:
    """Opt in (with a contact peers may use) or, with None, opt out."""
    if learner.role != Role.learner:
        raise ProjectError(403, "peer matching is for learners")
    row = s.get(PeerOptIn, learner.id)
    if contact is None:
        if row is not None:
            s.delete(row)
        return None
    if row is None:
        row = PeerOptIn(user_id=learner.id)
        s.add(row)
    row.contact = contact.strip()
    s.flush()
    return row


def current_lesson(s, user_id: int) -> str | None:
    return s.scalar(select(Submission.lesson).where(Submission.user_id == user_id)
                    .order_by(Submission.created_at.desc()).limit(1))


def peers(s, learner: User) -> dict:
    """The opted-in learners who share an active claim with ``learner``, or who are in one of
    their cohorts and on the same lesson (the lesson of each one's latest submission). Only
    a learner who opted in sees anyone."""
    if learner.role != Role.learner:
        raise ProjectError(403, "peer matching is for learners")
    me = s.get(PeerOptIn, learner.id)
    if me is None:
        return {"opted_in": False, "lesson": None, "peers": [],
                "note": "opt in first (PUT /api/peers/optin, or the Projects page): peers see you only then"}
    optins = {o.user_id: o for o in s.scalars(select(PeerOptIn)).all() if o.user_id != learner.id}
    found: dict[int, list[str]] = {}
    my_claims = s.scalars(select(Claim).where(Claim.user_id == learner.id, Claim.status == ClaimStatus.active)).all()
    for c in my_claims:
        for other in c.proposal.claims:
            if other.user_id in optins and other.status == ClaimStatus.active:
                found.setdefault(other.user_id, []).append(f"also works on proposal {c.proposal_id}: {c.proposal.title}")
    lesson = current_lesson(s, learner.id)
    mates = {u.id for cohort in learner.cohorts for u in cohort.learners} & set(optins)
    if lesson and mates:
        latest = (select(Submission.user_id, func.max(Submission.created_at).label("t"))
                  .where(Submission.user_id.in_(mates)).group_by(Submission.user_id).subquery())
        rows = s.execute(select(Submission.user_id, Submission.lesson)
                         .join(latest, (Submission.user_id == latest.c.user_id) & (Submission.created_at == latest.c.t)))
        for uid, theirs in sorted(set(rows)):
            if theirs == lesson:
                found.setdefault(uid, []).append(f"also on lesson {lesson}")
    out = []
    for uid, reasons in found.items():
        u = optins[uid].user
        out.append({"learner": u.username, "name": u.display_name, "contact": optins[uid].contact, "reasons": reasons})
    return {"opted_in": True, "contact": me.contact, "lesson": lesson,
            "peers": sorted(out, key=lambda d: d["learner"])}


# --------------------------------------------------------------------------- a course's own proposals
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_ITEM = re.compile(r"^\s{0,3}(\d{1,3})[.)]\s+(.*)$")
_DIFFICULTY = re.compile(r"\s*\(\s*difficulty\s*:?\s*([1-5])(?:\s*/\s*5)?\s*\)", re.IGNORECASE)


def going_further_section(cells: list[tuple[str, str]]) -> str | None:
    """The markdown of a notebook's "Going further" section (heading excluded), or None.

    ``cells`` are (cell_type, source) pairs. The section runs from a heading whose text
    starts with "Going further" to the next heading of the same or a higher level, or the
    next code cell.
    """
    collecting, level, lines = False, 0, []
    for kind, source in cells:
        if collecting and kind != "markdown":
            break
        if kind != "markdown":
            continue
        for line in source.splitlines():
            m = _HEADING.match(line)
            if collecting and m and len(m.group(1)) <= level:
                return "\n".join(lines)
            if collecting:
                lines.append(line)
            elif m and re.match(r"going\s+further\b", m.group(2).strip("*_ "), re.IGNORECASE):
                collecting, level = True, len(m.group(1))
    return "\n".join(lines) if collecting else None


def numbered_items(markdown: str) -> list[str]:
    """The items of the first numbered list in ``markdown``, each with its continuation lines."""
    items: list[list[str]] = []
    blank = False
    for line in markdown.splitlines():
        m = _ITEM.match(line)
        if m:
            items.append([m.group(2).strip()])
            blank = False
        elif items:
            if not line.strip():
                blank = True
                continue
            if blank and not line.startswith((" ", "\t")):
                break  # a paragraph after the list
            items[-1].append(("\n" if blank else "") + line.strip())
            blank = False
    return ["\n".join(parts).replace("\n\n\n", "\n\n").strip() for parts in items if "".join(parts).strip()]


def split_question(text: str) -> tuple[str, str, int]:
    """(title, question, difficulty) of one "Going further" item."""
    difficulty = 3
    m = _DIFFICULTY.search(text)
    if m:
        difficulty = int(m.group(1))
        text = (text[:m.start()] + text[m.end():]).strip()
    bold = re.match(r"^\*\*(.+?)\*\*[\s:.—-]*", text, re.DOTALL)
    if bold:
        title = bold.group(1).strip().rstrip(".:")
    else:
        first = re.split(r"(?<=[.?!:])\s", text.replace("\n", " "), maxsplit=1)[0]
        title = first.rstrip(".:")
    title = re.sub(r"\s+", " ", title)
    if len(title) > 120:
        title = title[:117].rstrip() + "…"
    return title, text, difficulty


def going_further_questions(path: Path) -> list[str]:
    """The numbered "Going further" questions of a lesson source (.py, jupytext percent) or notebook."""
    if path.suffix == ".py":
        cells = percent_cells(path.read_text(encoding="utf-8"))
    else:
        import nbformat

        cells = [(c.cell_type, c.source) for c in nbformat.read(str(path), as_version=4).cells]
    section = going_further_section(cells)
    return numbered_items(section) if section else []


_CELL = re.compile(r"^# %%(.*)$")


def percent_cells(text: str) -> list[tuple[str, str]]:
    """(cell_type, source) of a jupytext percent script, markdown uncommented: enough to read
    its prose, and ten times faster than jupytext (the service does this on every start)."""
    cells: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        m = _CELL.match(line)
        if m:
            kind = "markdown" if re.search(r"\[(markdown|md)\]", m.group(1)) else "code"
            cells.append((kind, []))
        elif cells:
            kind, lines = cells[-1]
            if kind == "markdown":
                line = line[2:] if line.startswith("# ") else line[1:] if line.startswith("#") else line
            lines.append(line)
    return [(kind, "\n".join(lines).strip("\n")) for kind, lines in cells]


def shipped_checkpoints() -> dict[str, list[str]]:
    """{lesson id: names of the course's shipped models for it}, from the checkpoints' JSON
    sidecars (reading the registry would import torch into the API process)."""
    import json

    import course

    out: dict[str, list[str]] = {}
    for path in sorted((Path(course.__file__).parent / "models" / "checkpoints").glob("*.json")):
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
            out.setdefault(str(meta["lesson"]), []).append(str(meta["name"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return out


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    closed: int = 0
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"course proposals: {self.created} new, {self.updated} updated, {self.unchanged} unchanged, "
                f"{self.closed} closed" + (f"; {len(self.errors)} error(s)" if self.errors else ""))


def _rel(root: Path, path: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def course_proposals(root: Path, report: ImportReport) -> tuple[list[dict], set[str]]:
    """Every proposal the course directory ships, as dicts for ``upsert``, and the source
    files that could not be read (their proposals are left as they are)."""
    out, failed = [], set()
    folder = root / PROJECTS_DIR
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        rel = _rel(root, path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as err:
            report.errors.append(f"{rel}: not readable TOML ({str(err).splitlines()[0]})")
            failed.add(rel)
            continue
        entries = data.get("proposal")
        if not isinstance(entries, list) or set(data) - {"proposal"}:
            report.errors.append(f"{rel}: expected only [[proposal]] tables")
            failed.add(rel)
            continue
        for n, entry in enumerate(entries, start=1):
            try:
                fp = FileProposal.model_validate(entry)
                fields = _resolve(root, fp)
            except ValidationError as err:
                report.errors.append(f"{rel}: proposal {n}: {first_error(err)}")
                failed.add(rel)
                continue
            except ProjectError as err:
                report.errors.append(f"{rel}: proposal {n} ({fp.id}): {err.detail}")
                failed.add(rel)
                continue
            out.append({**fields, "key": f"file:{fp.id}", "source": "file", "source_path": rel,
                        "mentor": fp.mentor or "", "cohort": fp.cohort, "status": fp.status})
    shipped = shipped_checkpoints()
    for lesson in all_lessons(root):
        if lesson.id.split(".")[0] not in REPLICATION_MODULES:
            continue
        rel = _rel(root, lesson.source)
        try:
            questions = going_further_questions(lesson.source)
            meta = lesson_header(lesson.source)
        except (LessonError, OSError, ValueError) as err:
            report.errors.append(f"{rel}: {str(err).splitlines()[0]}")
            failed.add(rel)
            continue
        checkpoint = meta.get("checkpoint") or ", ".join(shipped.get(lesson.id, []))
        for n, q in enumerate(questions, start=1):
            title, question, difficulty = split_question(q)
            out.append({"key": f"going-further:{lesson.slug}:{n}", "title": f"{lesson.id} #{n}: {title}"[:200],
                        "question": question, "lesson": lesson.slug, "checkpoint": str(checkpoint or ""),
                        "difficulty": difficulty, "prerequisites": [lesson.slug], "max_claims": None,
                        "source": "going-further", "source_path": rel, "mentor": "", "cohort": None, "status": None})
    return out, failed


def import_course_proposals(s, root: Path) -> ImportReport:
    """Create or update every proposal the course ships; idempotent. A proposal whose entry
    left its file (or whose question left its lesson) is closed, never deleted."""
    report = ImportReport()
    entries, failed = course_proposals(Path(root), report)
    seen = set()
    for d in entries:
        d = dict(d)
        key = d.pop("key")
        if key in seen:
            report.errors.append(f"{d['source_path']}: the id {key.split(':', 1)[1]!r} is used twice; the first wins")
            continue
        seen.add(key)
        mentor_name, cohort_name, status = d.pop("mentor"), d.pop("cohort"), d.pop("status")
        mentor = s.scalar(select(User).where(User.username == mentor_name)) if mentor_name else None
        d["mentor_id"] = mentor.id if mentor is not None and mentor.role != Role.learner else None
        d["mentor_name"] = "" if d["mentor_id"] else mentor_name
        cohort = s.scalar(select(Cohort).where(Cohort.name == cohort_name)) if cohort_name else None
        if cohort_name and cohort is None:  # not global instead: skipped until the cohort exists
            report.errors.append(f"{d['source_path']}: {key}: no cohort called {cohort_name!r} (yet); skipped")
            continue
        d["cohort_id"] = cohort.id if cohort else None
        if status is not None:
            d["status"] = ProposalStatus(status)
        p = s.scalar(select(Proposal).where(Proposal.key == key))
        if p is None:
            s.add(Proposal(key=key, **d))
            report.created += 1
            continue
        changed = {k: v for k, v in d.items() if getattr(p, k) != v}
        if changed:
            for k, v in changed.items():
                setattr(p, k, v)
            p.updated_at = utcnow()
            report.updated += 1
        else:
            report.unchanged += 1
    stale = s.scalars(select(Proposal).where(Proposal.source.in_(("file", "going-further")),
                                             Proposal.status == ProposalStatus.open)).all()
    for p in stale:
        if p.key not in seen and p.source_path not in failed:
            p.status = ProposalStatus.closed
            p.updated_at = utcnow()
            report.closed += 1
    s.flush()
    return report
