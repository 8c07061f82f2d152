"""``kefu`` (also ``python -m server``): serve, and the offline tools over the same core.

``check`` and ``suggest`` take a text argument, or read one text per line on stdin; with
``--json`` they print one JSON object per input line: the ``check_result`` or ``suggestions``
frame the server would send (``protocol.offline``), with the text it answers.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import orjson

from server.core.platforms import PLATFORMS
from server.errors import KefuError
from server.settings import Config, load_config


def _serve(args: argparse.Namespace) -> int:
    from server.runtime.app import serve

    config = load_config()
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(config))
    else:
        uvloop.run(serve(config))
    return 0


def _texts(args: argparse.Namespace) -> Iterator[str]:
    if args.text:
        yield " ".join(args.text)
        return
    for line in sys.stdin:
        line = line.rstrip("\n")
        if line.strip():
            yield line


def _check(args: argparse.Namespace) -> int:
    from server import protocol
    from server.core.checker import CheckContext, load_rules

    rules = load_rules(Path(args.phrases) / "banned")
    context = CheckContext(
        platform=args.platform,
        free_shipping=args.free_shipping,
        cash_on_delivery=args.cash_on_delivery,
    )
    blocked = False
    for text in _texts(args):
        violations = rules.check(text, context)
        blocked |= any(v.severity == "block" for v in violations)
        if args.json:
            result = protocol.offline(protocol.check_result(None, violations), text)
            if args.explain:
                trace = rules.explain(text, context)
                result["explain"] = {"cues": trace.cues, "events": trace.events}
            _print_json(result)
            continue
        mark = "✗" if any(v.severity == "block" for v in violations) else "!" if violations else "✓"
        print(f"{mark} {text}")
        for v in violations:
            fix = f" → {v.suggestion}" if v.suggestion else ""
            print(f"    [{v.severity}] {v.rule} ({v.category}) 「{v.match}」{fix}: {v.message}")
        if args.explain:
            trace = rules.explain(text, context)
            for family, words in trace.cues.items():
                print(f"    cue {family}: {' '.join(words)}")
            for event in trace.events:
                print(f"    why {event}")
    return 1 if blocked and not args.json else 0


def _suggest(args: argparse.Namespace) -> int:
    from server import protocol
    from server.core.phrases import load_library
    from server.core.suggest import SuggestContext, Suggester

    suggester = Suggester(load_library(Path(args.phrases)))
    context = SuggestContext(
        platform=args.platform, first_message=args.first, order_state=args.order_state
    )
    for text in _texts(args):
        items = suggester.suggest(text, context, k=args.k)
        if args.json:
            frame = protocol.suggestions("", None, protocol.suggestion_items(items))
            _print_json(protocol.offline(frame, text))
            continue
        print(text)
        for s in items:
            print(f"    {s.score:6.2f}  {s.phrase} ({s.category}): {s.text}")
    return 0


def _lint(args: argparse.Namespace) -> int:
    from server.core.checker import CheckContext, load_rules
    from server.core.lint import lint_library
    from server.core.phrases import read_sources

    directory = Path(args.directory)
    rules = load_rules(directory / "banned")

    def check(text: str, platform: str) -> list[tuple[str, str]]:
        return [(v.severity, v.rule) for v in rules.check(text, CheckContext(platform=platform))]

    problems = lint_library(read_sources(directory), check)
    for problem in problems:
        where = f"{directory / problem.file}:{problem.line}" if problem.line else problem.file
        print(f"{where}: {problem.message}")
    if problems:
        print(f"{len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"{directory}: ok")
    return 0


def _learn(paths: list[Path], args: argparse.Namespace, config: Config) -> None:
    """Write the shop's examples: buyer lines paired with the next human reply, mapped."""
    from server.core.learn import learn, pair_replies
    from server.core.phrases import load_library
    from server.core.suggest import Suggester
    from server.qa.lines import ChatLine, parse_csv_map, read_export, zone

    tz = zone(args.timezone or config.timezone)
    columns = parse_csv_map(args.csv_map)
    lines = [
        (line.conversation, line.sender, line.text)
        for path in paths
        for line in read_export(path, tz, columns)
        if isinstance(line, ChatLine) and not line.auto
    ]
    pairs = pair_replies(lines)
    book = learn(pairs, Suggester(load_library(Path(args.phrases or config.phrases))))
    document = {"pairs": len(pairs), "examples": book.to_json()}
    Path(args.learn).write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    # stderr: stdout may be the JSON report
    summary = f"学习：{len(pairs)} 组买家消息与回复，{len(book)} 组对应到话术，写入 {args.learn}"
    print(summary, file=sys.stderr)


def _qa(args: argparse.Namespace) -> int:
    from server.core.checker import load_rules
    from server.qa import parse_csv_map, render_html, render_text, run_qa

    config = load_config()
    paths = [Path(name) for name in args.files]
    for path in paths:
        if not path.is_file():
            print(f"kefu: cannot read export: {str(path)!r}", file=sys.stderr)
            return 2
    report = run_qa(
        paths,
        rules=load_rules(Path(args.phrases or config.phrases) / "banned"),
        platform=args.platform,
        timers=config.timers,
        timezone=args.timezone or config.timezone,
        target_rate=config.target_rate,
        columns=parse_csv_map(args.csv_map),
        penalties=config.penalties,
        deadlines=config.deadlines,
    )
    if args.html:
        Path(args.html).write_text(render_html(report), encoding="utf-8")
    if args.learn:
        _learn(paths, args, config)
    if args.json:
        _print_json(report.to_json())
    else:
        sys.stdout.write(render_text(report))
        if args.html:
            print(f"HTML 报告：{args.html}")
    return 0


def _print_json(document: object) -> None:
    sys.stdout.write(orjson.dumps(document).decode() + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kefu", description="客服助手 Kefu Assist")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the websocket and HTTP servers")
    serve.set_defaults(run=_serve)

    def offline(name: str, help: str) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help)
        command.add_argument("text", nargs="*", help="the text; none: one per line on stdin")
        command.add_argument("--platform", choices=PLATFORMS, default="taobao")
        command.add_argument("--json", action="store_true", help="one JSON object per line")
        command.add_argument("--phrases", default="phrases", help="the phrase library directory")
        return command

    check = offline("check", "check drafts against the banned-wording rule packs")
    check.add_argument("--free-shipping", action="store_true", help="the item ships free (包邮)")
    check.add_argument(
        "--cash-on-delivery",
        action="store_true",
        help="the shop offers cash on delivery (货到付款)",
    )
    check.add_argument(
        "--explain", action="store_true", help="print the cues found and why each rule fired or not"
    )
    check.set_defaults(run=_check)

    suggest = offline("suggest", "suggest quick phrases for buyer messages")
    suggest.add_argument("-k", type=int, default=3, help="how many suggestions")
    suggest.add_argument("--first", action="store_true", help="the buyer's first message")
    suggest.add_argument(
        "--order-state", choices=("unpaid", "paid", "shipped", "refunding"), default=None
    )
    suggest.set_defaults(run=_suggest)

    lint = commands.add_parser("lint", help="validate the phrase library and check its wording")
    lint.add_argument("directory", nargs="?", default="phrases")
    lint.set_defaults(run=_lint)

    qa = commands.add_parser("qa", help="batch QA of exported chats: reply KPIs and wording")
    qa.add_argument("files", nargs="+", metavar="FILE", help="JSONL or .csv chat exports")
    qa.add_argument("--platform", choices=PLATFORMS, default="taobao")
    qa.add_argument("--json", action="store_true", help="print the report as one JSON object")
    qa.add_argument("--html", metavar="OUT", help="also write a self-contained HTML report")
    qa.add_argument("--csv-map", default="", help="CSV columns: from=col,text=col,...")
    qa.add_argument("--timezone", help="zone of times without one (default KEFU_TIMEZONE)")
    qa.add_argument("--phrases", help="the phrase library directory (default KEFU_PHRASES)")
    qa.add_argument(
        "--learn",
        metavar="OUT",
        help="also write the shop's examples (buyer line -> phrase) as JSON, for "
        "<KEFU_PHRASES>/learned/<shop>.json",
    )
    qa.set_defaults(run=_qa)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except KefuError as exc:
        print(f"kefu: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
