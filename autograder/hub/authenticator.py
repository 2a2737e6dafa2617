"""How people sign in at the course's hub: JupyterHub's SharedPasswordAuthenticator (a password
for learners and mentors, another for the admins), for users the hub already knows, plus the
LTI 1.3 launch handlers (autograder/hub/lti.py) when an LMS platform is registered."""

from __future__ import annotations

from jupyterhub.authenticators.shared import SharedPasswordAuthenticator
from traitlets import Unicode


class CourseAuthenticator(SharedPasswordAuthenticator):
    hub_dir = Unicode("", config=True, help="the hub's directory (LTI platforms: lti/platforms.json)")

    def get_handlers(self, app):
        from autograder.hub import lti

        return super().get_handlers(app) + lti.handlers(self)
