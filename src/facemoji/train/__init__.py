"""Training, export and evaluation of the emotion model.

Kept apart from the runtime: nothing under ``facemoji`` outside this package
imports it. ``trainer`` and ``export`` need PyTorch (``pip install 'facemoji[train]'``);
``data`` and ``evaluate`` do not.
"""
