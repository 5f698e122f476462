"""The web view (``rundb view``): an application over :mod:`rundb.api`."""
