"""Deploying prefect.yaml to a test's Prefect server: every deployment whose flow file exists in this checkout."""

from __future__ import annotations

from pathlib import Path

import yaml

from eventkit.core.settings import PROJECT_ROOT


def deploy_args(root: Path = PROJECT_ROOT) -> tuple[str, ...]:
    """`deploy --all`, or only the deployments whose entrypoint exists while a flow is still being written."""
    deployments = yaml.safe_load((root / "prefect.yaml").read_text(encoding="utf-8"))["deployments"]
    present = [d["name"] for d in deployments if (root / d["entrypoint"].split(":")[0]).is_file()]
    if len(present) == len(deployments):
        return ("--no-prompt", "deploy", "--all")
    return ("--no-prompt", "deploy", *(arg for name in present for arg in ("--name", name)))
