"""Research projects: proposals, claims, milestones and peers, in one place.

    models.py      their tables (on the gradebook's Base; migration 0002)
    service.py     the rules: who may claim what, imports from projects/*.toml and lessons' "Going further"
    api.py         /api/proposals, /api/claims, /api/peers
    pages.py       the dashboard's Projects pages
"""
