"""``tam-label cvat track|fix``: pre-annotate a CVAT task and re-track corrections.

Credentials come from CVAT_USERNAME/CVAT_PASSWORD or CVAT_ACCESS_TOKEN (a
password prompt when interactive) and are never printed. cvat-sdk, torch and
the models are imported only when the command runs.
"""

from __future__ import annotations

import argparse

from tam_core.options import DIRECTIONS, RunOptions

from .model_args import add_concept_args, add_model_args, concept_options, model_options, run_options


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("cvat", help="pre-annotate a CVAT task from a few clicks; re-track after fixes")
    sub = p.add_subparsers(dest="cvat_command", metavar="ACTION")
    for name, helptext in (
        ("track", "track the objects a person prompted in a task and upload per-frame masks"),
        ("fix", "re-track only the spans after frames a person corrected since the last run"),
    ):
        q = sub.add_parser(name, help=helptext, description=helptext)
        q.add_argument("--server", required=True, help="CVAT URL with its scheme, e.g. https://app.cvat.ai or http://localhost:8080")
        q.add_argument("--task", type=int, required=True, help="task id")
        q.add_argument("--job", type=int, default=None, help="work on this job's frames only")
        q.add_argument("--frames", default=None, metavar="A:B", help="task frames A..B-1 only (task frame numbers)")
        q.add_argument("--user", default=None, help="CVAT user name (default: $CVAT_USERNAME)")
        q.add_argument("--dry-run", action="store_true", help="print what would change; load no model, write nothing")
        q.add_argument("--batch-size", type=int, default=None,
                       help=f"frames per upload batch (default {RunOptions.batch_size}, RunOptions' default)")
        q.add_argument("--direction", choices=DIRECTIONS, default="both",
                       help="track from each keyframe forward, backward or both ways (default both)")
        q.add_argument("--state-dir", default=None,
                       help="where the per-machine lock lives and old (pre-server) records are read from (default $TAM_LABEL_CACHE/cvat)")
        q.add_argument("--include-completed", action="store_true",
                       help="also change jobs in acceptance or completed (default: left alone, listed in the summary)")
        q.add_argument("--treat-unclaimed-as-person", action="store_true",
                       help="keep source=auto masks that no tam-label record claims as a person's masks (default: refuse)")
        q.add_argument("--reconnect-window", type=float, default=60.0, metavar="S",
                       help="bridge a server outage (restart) of up to S seconds mid-run before giving up (default 60)")
        q.add_argument("--no-progress", action="store_true", help="no progress bar (terminal) or progress lines (log)")
        add_model_args(q, deprecated_sam_alias=True)
        if name == "track":
            add_concept_args(q)
        q.set_defaults(func=run)
    from .cvat_agent import add_agent_parser

    add_agent_parser(sub)  # CVAT Online/Enterprise in-UI functions (plugin/cli/cvat_agent.py)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run(args: argparse.Namespace) -> int:
    import logging
    from pathlib import Path

    from plugin.cvat import CvatOptions, connect, credentials_from_env, fix_task, track_task

    logging.basicConfig(level=logging.WARNING, format="tam-label: %(message)s")
    mopts = model_options(args)  # option errors before connecting or loading anything
    if not args.dry_run:
        from tam_core.models import check_device

        check_device(mopts)  # a missing GPU or --fp16 on the CPU: before connecting, not after reading the task
    options = CvatOptions(
        job_id=args.job, frames=args.frames, dry_run=args.dry_run, run=run_options(args),
        state_dir=Path(args.state_dir) if args.state_dir else None,
        progress=not args.no_progress, include_completed=args.include_completed,
        unclaimed_as_person=args.treat_unclaimed_as_person,
    )
    concepts = getattr(args, "concepts", None)
    if concepts is not None:  # track --concepts: SAM 3 finds the objects (plugin/cvat/concepts.py)
        from plugin.cvat.concepts import ConceptRequest, parse_classes, preannotate_task

        copts, request = concept_options(args), ConceptRequest(parse_classes(concepts), args.concept_threshold)
        with connect(args.server, credentials_from_env(username=args.user), reconnect_s=args.reconnect_window) as conn:
            report = preannotate_task(conn, args.task, copts, request, options)  # loaded only when there is work
        print(report.summary())
        return 0
    action = track_task if args.cvat_command == "track" else fix_task
    with connect(args.server, credentials_from_env(username=args.user), reconnect_s=args.reconnect_window) as conn:
        # ModelOptions: loaded through tam_core.models.get_models only once the
        # task has prompts and this is not a dry run.
        report = action(conn, args.task, mopts, options)
    print(report.summary())
    return 0
