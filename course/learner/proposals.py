"""Project proposals from the learner's terminal: `bootcamp proposals`, `bootcamp claim`,
`bootcamp peers`. HTTP to the grading service (course/learner/client.py); never imports ``autograder``.

    bootcamp proposals [--all]                       open proposals you can claim (--all: and the rest)
    bootcamp claim ID [--milestone "YYYY-MM-DD title"]... [--note TEXT]
    bootcamp peers [--opt-in [CONTACT] | --opt-out]  opted-in learners on your proposal or lesson
"""

from __future__ import annotations

import json
from datetime import date

from course.learner.client import ServiceError, request


def cmd_proposals(args) -> int:
    rows = request("GET", "/api/proposals" + ("?all=true" if args.all else ""))
    if not rows:
        print("no open proposal you can claim yet" + ("" if args.all else " (`bootcamp proposals --all` lists the rest)"))
        return 0
    for p in rows:
        if p.get("claimed"):
            state = "claimed by you"
        elif p.get("missing"):
            state = "needs " + ", ".join(p["missing"])
        else:
            state = "can claim" if p["status"] == "open" else p["status"]
        mentor = f", mentor {p['mentor']}" if p.get("mentor") else ""
        print(f"{p['id']:>4}  {p['lesson']:<18} d{p['difficulty']}  {p['title']}  [{state}; {p['claims']} on it{mentor}]")
    print("details: the dashboard's Projects page; claim one with `bootcamp claim ID`")
    return 0


def _milestone(text: str) -> dict:
    day, _, title = text.strip().partition(" ")
    try:
        date.fromisoformat(day)
    except ValueError:
        raise ServiceError(f"--milestone {text!r}: write 'YYYY-MM-DD title'") from None
    if not title.strip():
        raise ServiceError(f"--milestone {text!r}: the title is missing")
    return {"title": title.strip(), "due": day}


def cmd_claim(args) -> int:
    body = {"note": args.note or "", "milestones": [_milestone(m) for m in args.milestone or []]}
    got = request("POST", f"/api/proposals/{args.id}/claim", json.dumps(body).encode())
    print(f"claimed proposal {got['proposal']}: {got['title']} (claim {got['id']})")
    for m in got["milestones"]:
        print(f"  {m['due']}  {m['title']}")
    return 0


def cmd_peers(args) -> int:
    if args.opt_out:
        request("DELETE", "/api/peers/optin")
        print("peer matching is off: nobody sees you, and you see nobody")
        return 0
    if args.opt_in is not None:
        request("PUT", "/api/peers/optin", json.dumps({"contact": args.opt_in}).encode())
    got = request("GET", "/api/peers")
    if not got["opted_in"]:
        print("you have not opted in: `bootcamp peers --opt-in \"@you on chat\"` (peers then see you too)")
        return 0
    if not got["peers"]:
        print("opted in; no opted-in peer works on your proposals or, in your cohort, on your lesson yet")
    for p in got["peers"]:
        print(f"{p['name']} ({p['learner']})" + (f"  {p['contact']}" if p["contact"] else "") + f"  - {'; '.join(p['reasons'])}")
    return 0


def add_subcommands(subparsers) -> None:
    """Register ``proposals``, ``claim`` and ``peers`` on the ``bootcamp`` argparse sub-parsers."""
    s = subparsers.add_parser("proposals", help="project proposals you can claim")
    s.add_argument("--all", action="store_true", help="also those whose prerequisites you have not passed")
    s.set_defaults(func=cmd_proposals)
    s = subparsers.add_parser("claim", help="claim a project proposal (its prerequisites passed)")
    s.add_argument("id", type=int, metavar="ID")
    s.add_argument("--milestone", action="append", metavar='"YYYY-MM-DD title"', help="repeat for each milestone")
    s.add_argument("--note", help="a note for your mentor")
    s.set_defaults(func=cmd_claim)
    s = subparsers.add_parser("peers", help="opt in to peer matching and see your peers")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--opt-in", nargs="?", const="", metavar="CONTACT", help="be seen by peers (with how to reach you)")
    g.add_argument("--opt-out", action="store_true", help="stop peer matching")
    s.set_defaults(func=cmd_peers)
