"""Cohorts on JupyterHub (`./run.sh hub`): one sign-in at the hub for learners and mentors.

    config.py             the hub's configuration from BOOTCAMP_HUB_* (proxy, spawner, services, roles)
    jupyterhub_config.py  the file `jupyterhub -f` loads; it calls config.configure
    authenticator.py      sign-in at the hub: shared passwords for known users, plus LTI launches
    singleuser.py         what the spawner runs per learner: their workspace, then jupyterhub-singleuser
    service.py            the grading service's side: hub tokens on the API, hub OAuth for the dashboard,
                          hub users and groups mirrored into the gradebook (admins, mentors, cohorts)
    lti.py                LTI 1.3 at the hub: OIDC login, signed launches, NRPS rosters into cohort groups
    ags.py                the grading service's thread that sends each LTI learner's score to the LMS (AGS)
    launch.py             start and stop a whole hub from Python (the tests, benchmarks/hub_servers.py)
"""
