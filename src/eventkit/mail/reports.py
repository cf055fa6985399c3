"""Reports for people who watch runs: the delivery report as Markdown, with no address in it."""

from __future__ import annotations

import re

from eventkit.mail.outbox import DeliveryReport

_ADDRESS = re.compile(r"[^\s<>()\[\]\"',;:]+@[^\s<>()\[\]\"',;:]+")


def mask(address: str) -> str:
    """'dmitri@example.org' -> 'd…@example.org': enough to find the row, not enough to spread the address."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}…@{domain}" if domain else "…"


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def _cell(text: str) -> str:
    # servers quote the refused address in their reply: mask it there too
    return _escape(_ADDRESS.sub(lambda m: mask(m.group(0)), text))


def _hide_addresses(text: str) -> str:
    return _ADDRESS.sub("[address]", text)


def delivery_markdown(slug: str, kind: str, report: DeliveryReport, *, personal: bool = False) -> str:
    """The report; a failure is named by its outbox id, with no address in it (not even in the server's
    answer), unless `personal` (EVENTKIT_DEBUG_PERSONAL_DATA) asks for the recipients."""
    lines = [
        f"# Delivery report: {kind} · {slug}",
        "",
        "| sent | of which retried | failed | waiting | being sent by another run | total |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {report.sent} | {report.retried} | {report.failed} | {report.waiting} | {report.in_flight}"
        f" | {report.total} |",
    ]
    for title, rows in (("Failed (permanent)", report.failures), ("Waiting for a retry", report.deferrals)):
        if rows:
            if personal:
                lines += ["", f"## {title}", "", "| outbox id | recipient | server's answer |", "|---:|---|---|"]
                lines += [f"| {oid} | {_escape(rcpt)} | {_escape(reason)} |" for oid, rcpt, reason in rows]
            else:
                lines += ["", f"## {title}", "", "| outbox id | server's answer |", "|---:|---|"]
                lines += [f"| {oid} | {_escape(_hide_addresses(reason))} |" for oid, _rcpt, reason in rows]
    return "\n".join(lines) + "\n"
