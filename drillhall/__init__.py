# Load the Celery app with Django so that shared tasks (start_run) use its broker settings.
from drillhall.celery import app as celery_app

__all__ = ["celery_app"]
