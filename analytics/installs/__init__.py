"""Installs analytics (issue 21): active installs, installs and uninstalls per day, uninstall
reasons and feedback, the environment of active installs, time to uninstall, licenses' sites.

The package: ``models`` (what the worker keeps), ``lifecycle`` (what one lifecycle event
does to a site: the one rule both the fold and a read's tail apply), ``fold`` (the worker),
``report`` (the answer: folded rows plus the unfolded tail), ``export`` (CSV).
Rules for repeated events: docs/installs.md.
"""
