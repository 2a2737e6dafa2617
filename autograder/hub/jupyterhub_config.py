"""The file `jupyterhub -f` loads: the course's hub, configured from BOOTCAMP_HUB_* variables
(autograder/hub/config.py says which)."""

from autograder.hub.config import configure

c = get_config()  # noqa: F821 - JupyterHub's loader defines it
configure(c)
