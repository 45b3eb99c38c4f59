"""``tam-label cvat agent``: serve CVAT's in-UI AI tools (CVAT Online / Enterprise).

A community server (no ``/api/functions``) is refused first in one line that
points to ``tam-label cvat track``/``fix`` (``plugin.cvat.edition``).

Runs cvat-cli's own agent (``cvat-cli function create-native`` once, then
``function run-agent``) with ``plugin.cvat.functions_click`` (SAM clicks) or
``plugin.cvat.functions_track`` (XMem tracking) and the model flags turned
into the functions' ``-p`` parameters. Credentials come from CVAT_USERNAME /
CVAT_PASSWORD or CVAT_ACCESS_TOKEN like the other cvat actions and never
appear on a command line (cvat-cli runs in this process).
"""

from __future__ import annotations

import argparse
from pathlib import Path

MODULES = {"click": "plugin.cvat.functions_click", "track": "plugin.cvat.functions_track"}
NAMES = {"click": "Track Anything: SAM clicks", "track": "Track Anything: XMem tracker"}


def add_agent_parser(sub) -> None:
    from .model_args import add_model_args

    text = ("serve CVAT's in-UI SAM clicks or XMem tracker as a native function "
            "(CVAT Online/Enterprise; needs cvat-cli: pip install 'tam-label[cvat-agent]')")
    q = sub.add_parser("agent", help=text, description=text)
    q.add_argument("--server", required=True, help="CVAT URL, e.g. https://app.cvat.ai")
    q.add_argument("--function", required=True, choices=tuple(MODULES),
                   help="click: SAM interactor (Interactors tab); track: XMem tracker for masks/polygons (Trackers tab)")
    q.add_argument("--function-id", type=int, default=None,
                   help="serve this existing native function (default: create one first and print its id)")
    q.add_argument("--name", default=None, help="name of the function created when --function-id is not given")
    q.add_argument("--public", action="store_true", help="make the created function visible to everyone on the server")
    q.add_argument("--org", default=None, metavar="SLUG", help="organization to create the function in")
    q.add_argument("--user", default=None, help="CVAT user name (default: $CVAT_USERNAME)")
    q.add_argument("--burst", action="store_true", help="answer the requests waiting now, then exit")
    q.add_argument("--max-live-trackers", type=int, default=16,
                   help="track: shapes that keep a live XMem tracker (older ones are rebuilt on use; default 16)")
    add_model_args(q)
    q.set_defaults(func=run_agent)


def function_parameters(args: argparse.Namespace) -> list[str]:
    """The ``-p name=type:value`` arguments for cvat-cli (validated first)."""
    from plugin.cvat.functions import FunctionParams

    from .model_args import model_options, run_options

    opts, run = model_options(args), run_options(args)
    path = lambda p: None if p is None else str(Path(p).resolve())  # noqa: E731 - the worker may not share our cwd
    from tam_core.segmenters.registry import DEFAULT_FAMILY

    segmenter = opts.sam_type if opts.segmenter_family == DEFAULT_FAMILY else opts.segmenter
    params = FunctionParams(sam_type=segmenter, sam_checkpoint=path(opts.sam_checkpoint),
                            xmem_checkpoint=path(opts.xmem_checkpoint), tracker=opts.tracker,
                            tracker_checkpoint=path(opts.tracker_checkpoint), device=opts.device,
                            cache_dir=path(opts.cache_dir), autocast=opts.autocast, download=opts.download,
                            refine=run.refine, max_live_trackers=args.max_live_trackers)
    out = []
    for name, default in FunctionParams.__dataclass_fields__.items():
        value = getattr(params, name)
        if value is None or value == default.default:
            continue
        kind = {bool: "bool", int: "int", str: "str"}[type(value)]
        out += ["-p", f"{name}={kind}:{str(value).lower() if kind == 'bool' else value}"]
    return out


def run_agent(args: argparse.Namespace) -> int:
    import contextlib
    import io
    import sys

    from plugin.cvat import credentials_from_env
    from plugin.cvat.edition import require_functions
    from plugin.cvat.errors import CvatError
    from plugin.cvat.functions import require_sdk
    from tam_core.errors import ConfigError

    params = function_parameters(args)
    require_sdk()
    try:
        from cvat_cli.__main__ import main as cvat_cli
    except ImportError:
        raise ConfigError("cvat-cli is not installed: pip install 'tam-label[cvat-agent]'") from None
    creds = credentials_from_env(username=args.user)
    require_functions(args.server, creds)  # a community server: one line, before cvat-cli or any model
    common = ["--server-host", args.server.rstrip("/")]
    if creds.token is None:  # a token is read by cvat-cli from $CVAT_ACCESS_TOKEN itself
        common += ["--auth", f"{creds.username}:{creds.password}"]
    if args.org:
        common += ["--org", args.org]
    function = ["--function-module", MODULES[args.function], *params]
    function_id = args.function_id
    if function_id is None:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = cvat_cli([*common, "function", "create-native", args.name or NAMES[args.function],
                           "--visibility", "public" if args.public else "private", *function])
        if rc != 0 or not out.getvalue().strip().isdigit():
            raise CvatError(f"could not create the function on {args.server} (cvat-cli exit {rc}; see its log above)")
        function_id = int(out.getvalue().strip())
        print(f"created CVAT function #{function_id}; serve it again later with --function-id {function_id}")
        sys.stdout.flush()
    rc = cvat_cli([*common, "function", "run-agent", str(function_id), *function, *(["--burst"] if args.burst else [])])
    if rc != 0:
        raise CvatError(f"the agent for function #{function_id} stopped (cvat-cli exit {rc}; see its log above)")
    return 0
