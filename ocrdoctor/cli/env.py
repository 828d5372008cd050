"""`ocrdoctor env`: the machine's facts as a table, and the OD3xx rules over them."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..core.findings import Severity
from . import common


@click.command()
@click.option("--format", "fmt", type=click.Choice(common.FORMATS), default="text", show_default=True)
@click.option("--fail-on", type=click.Choice(["error", "warning", "info"]),
              help="Exit 1 when a finding reaches this severity.  [default: error]")
@click.option("--select", multiple=True, help="Only these rule codes or prefixes (OD3, OD304).")
@click.option("--ignore", multiple=True, help="Skip these rule codes or prefixes.")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), help="Settings file (TOML).")
def env(fmt, fail_on, select, ignore, config) -> int:
    """Check the machine: torch and CUDA, GPUs (NVML), CPUs and threads, memory, torchvision, onnxruntime."""
    from ..api import check_environment
    from ..core.config import load_settings
    from ..inspect.environment import inspect_environment
    from ..render.json import report_dict
    from ..run.plan import codes

    settings = load_settings(config).merged(
        select=tuple(codes(select)) or None, ignore=tuple(codes(ignore)) or None,
        fail_on=Severity(fail_on) if fail_on else None,
    )
    facts = inspect_environment()
    report = check_environment(settings=settings, facts=facts)
    color = common.use_color() and fmt == "text"
    if fmt == "json":
        click.echo(json.dumps({**report_dict(report), "environment": facts.to_dict()}, indent=2, default=str))
    else:
        if fmt == "text":
            click.echo(_environment_table(facts), color=color)
        click.echo(common.rendered(report, fmt, color=color, fail_on=settings.fail_on), nl=False, color=color)
    return report.exit_code(settings.fail_on)


def _environment_table(f) -> str:
    from ..core.units import human_bytes

    gpus = [f"cuda:{g.index} {g.name} (compute {'.'.join(map(str, g.compute_capability or ()))}, "
            f"{human_bytes(g.memory_free)} of {human_bytes(g.memory_total)} free, {g.processes} processes)"
            for g in f.gpus]
    rows = [
        ("python", f.python),
        ("torch", f"{f.torch_version}, " + (f"built for CUDA {f.torch_cuda}" if f.torch_cuda else "CPU-only build")),
        ("cuda available", f"{f.cuda_available} ({f.cuda_devices} devices)"),
        ("driver", f"{f.driver_version} (CUDA {f.driver_cuda})" if f.driver_version else f"none ({f.nvml_error})"),
        *[("gpu", g) for g in gpus],
        ("cpus", f"{f.cpus_usable} usable of {f.cpus_logical} logical / {f.cpus_physical} physical"
                 + (f", cgroup quota {f.cpu_quota:g}" if f.cpu_quota else "")),
        ("torch threads", str(f.torch_threads) + "".join(f", {k}={v}" for k, v in f.thread_variables.items())),
        ("memory", f"{human_bytes(f.memory_available)} available of {human_bytes(f.memory_total)}"),
        ("torchvision", f"{f.torchvision_version} ({'ops load' if not f.torchvision_error else f.torchvision_error})"
                        if f.torchvision_version else "not installed"),
        ("onnxruntime", f"{', '.join(f.onnxruntime_packages)} ({', '.join(f.onnxruntime_providers)})"
                        if f.onnxruntime_packages else "not installed"),
    ]
    return "\n".join(f"{k:<15} {v}" for k, v in rows) + "\n"
