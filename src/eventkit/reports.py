"""Reports for people who watch runs: the delivery report as Markdown, with addresses masked."""

from __future__ import annotations

import re

from eventkit.outbox import DeliveryReport

_ADDRESS = re.compile(r"[^\s<>()\[\]\"',;:]+@[^\s<>()\[\]\"',;:]+")


def mask(address: str) -> str:
    """'dmitri@example.org' -> 'd…@example.org': enough to find the row, not enough to spread the address."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}…@{domain}" if domain else "…"


def _cell(text: str) -> str:
    # servers quote the refused address in their reply: mask it there too
    text = _ADDRESS.sub(lambda m: mask(m.group(0)), text)
    return text.replace("|", "\\|").replace("\n", " ").strip()


def delivery_markdown(slug: str, kind: str, report: DeliveryReport) -> str:
    lines = [
        f"# Delivery report: {kind} · {slug}",
        "",
        "| sent | of which retried | failed | waiting | total |",
        "|---:|---:|---:|---:|---:|",
        f"| {report.sent} | {report.retried} | {report.failed} | {report.waiting} | {report.total} |",
    ]
    for title, rows in (("Failed (permanent)", report.failures), ("Waiting for a retry", report.deferrals)):
        if rows:
            lines += ["", f"## {title}", "", "| outbox id | recipient | server's answer |", "|---:|---|---|"]
            lines += [f"| {oid} | {_cell(mask(rcpt))} | {_cell(reason)} |" for oid, rcpt, reason in rows]
    return "\n".join(lines) + "\n"
