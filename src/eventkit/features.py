"""The features that plug into the layers below them (email kinds, delivery sweeps): what every entry point imports.

A feature registers with a lower layer when its module is imported (eventkit.mail.kinds: how to render its
emails; eventkit.mail.delivery.on_sweep: what a sweep does first). An entry point that delivers or renders
emails (the CLI, the web app and its delivery process, the flows, the demo) imports this module first, so
that no registration depends on which feature happened to be imported before. A module that registers
something belongs in REGISTERING (tests/test_architecture.py checks it).
"""

from __future__ import annotations

from eventkit.registration import emails, optin
from eventkit.reminders import reminders
from eventkit.survey import emails as survey_emails

REGISTERING = (emails, optin, reminders, survey_emails)
