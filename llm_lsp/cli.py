"""``llm-lsp``: serve the protocol (stdio by default), or run the pipeline from a shell.

llm-lsp                         serve over stdio (what editors start)
llm-lsp --tcp 127.0.0.1:2087    serve over TCP (debugging)
llm-lsp complete FILE:LINE:COL  print the suggestion the server would give there (1-based line and column)
llm-lsp models                  list the models every provider offers, with capabilities
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

from llm_lsp import __version__, logs
from llm_lsp.config.files import WORKSPACE_FILE
from llm_lsp.config.sources import Layer, deep_merge, defaults_layer, env_layer, flags_layer
from llm_lsp.config.workspace import ConfigSet

log = logging.getLogger("llm_lsp.cli")


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model and server (no API key needed for local servers)")
    g.add_argument("--provider", help="provider id the --base-url and --model flags refer to (default: ollama)")
    g.add_argument("--base-url", help="URL of that provider's server, e.g. http://127.0.0.1:1234")
    g.add_argument("--model", help='completion model, "provider/model" or a name on --provider')
    g.add_argument(
        "--settings", help="settings as JSON, or a path to a JSON file (same shape as initializationOptions)"
    )
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: protocol too)")
    p.add_argument("--log-file", help="also log to this file")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="llm-lsp", description="LLM completions for any editor, over LSP.")
    p.add_argument("--version", action="version", version=f"llm-lsp {__version__}")
    p.add_argument("--stdio", action="store_true", help="serve over stdio (the default)")
    p.add_argument("--tcp", metavar="HOST:PORT", help="serve over TCP instead of stdio")
    _common(p)
    sub = p.add_subparsers(dest="command")
    c = sub.add_parser("complete", help="print the suggestion for a position in a file")
    c.add_argument("where", metavar="FILE:LINE:COL", help="1-based line and column (column in characters)")
    c.add_argument("--json", action="store_true", help="print a JSON object with the model, timing and text")
    _common(c)
    cf = sub.add_parser("config", help="print the effective configuration and where each value comes from")
    cf.add_argument("--folder", help="the workspace folder (default: the nearest folder with .llm-lsp.toml, or .)")
    cf.add_argument("--json", action="store_true", help="print JSON: settings, origins, problems")
    _common(cf)
    sub.add_parser("schema", help="print the JSON Schema of the settings (for VS Code settings and TOML editors)")
    m = sub.add_parser("models", help="list discovered models and their capabilities")
    m.add_argument("--json", action="store_true", help="print JSON")
    m.add_argument("--capability", help="only models with this capability (fim, chat, embedding, ...)")
    _common(m)
    return p


def base_layers(args: argparse.Namespace) -> list[Layer]:
    """Defaults, environment, and the command line (``--settings`` merged into the flags)."""
    flags = flags_layer(args.provider, args.base_url, args.model)
    if args.settings:
        settings = _read_settings(args.settings)
        if not isinstance(settings, dict):
            raise SystemExit("llm-lsp: --settings must be a JSON object")
        flags = deep_merge(settings, flags)
    return [("defaults", defaults_layer()), ("environment", env_layer()), ("command line", flags)]


def config_set(args: argparse.Namespace, folder: Path | None) -> ConfigSet:
    layers = base_layers(args)
    config = ConfigSet(layers[:2], layers[2][1])
    if folder is not None:
        config.set_folders([str(folder.resolve())])
    return config


def find_folder(start: Path) -> Path | None:
    """The nearest enclosing directory with a .llm-lsp.toml (what an editor would open as the workspace)."""
    for d in [start.resolve(), *start.resolve().parents]:
        if (d / WORKSPACE_FILE).is_file():
            return d
    return None


def _read_settings(value: str) -> Any:
    text = value
    if not value.lstrip().startswith("{"):
        text = Path(value).read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise SystemExit(f"llm-lsp: --settings is not valid JSON: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logs.setup(args.verbose, args.log_file, quiet_stderr=args.command is None)
    if args.command == "complete":
        return asyncio.run(_complete(args))
    if args.command == "models":
        return asyncio.run(_models(args))
    if args.command == "config":
        return _config(args)
    if args.command == "schema":
        print(json.dumps(schema(), indent=2))
        return 0
    return _serve(args)


def _serve(args: argparse.Namespace) -> int:
    from llm_lsp.server import create_server

    server = create_server(config_set(args, None))
    logs.attach_to_server(server)
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        server.start_tcp(host or "127.0.0.1", int(port))
    else:
        from llm_lsp import stdio

        stdio.serve(server)
    return 0


def _services(args: argparse.Namespace, folder: Path | None = None) -> tuple[Any, Any]:
    from llm_lsp.services import Services, new_http_client

    fs = config_set(args, folder).build(str(folder.resolve()) if folder else None)
    for p in fs.problems:
        print(f"llm-lsp: configuration: {p}", file=sys.stderr)
    services = Services(fs.settings, new_http_client())
    for msg in services.provider_problems:
        print(f"llm-lsp: {msg}", file=sys.stderr)
    return services, fs


def schema() -> dict[str, Any]:
    from llm_lsp.config.model import Settings

    out = Settings.model_json_schema(by_alias=True)
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    out["title"] = "llm-lsp settings"
    return out


_SECRET_KEYS = {"apikey", "token", "secret", "password", "authorization"}


def _mask(key: str, value: Any) -> Any:
    """Secrets are never in settings (keys come from the environment or a command), but mask any that a user wrote."""
    return "***" if key.rsplit(".", 1)[-1].lower() in _SECRET_KEYS and value else value


def _config(args: argparse.Namespace) -> int:
    folder = Path(args.folder) if args.folder else (find_folder(Path.cwd()) or Path.cwd())
    fs = config_set(args, folder).build(str(folder.resolve()))
    flat = _flatten(fs.settings.model_dump(by_alias=True, mode="json"))
    if args.json:
        print(
            json.dumps(
                {
                    "folder": str(folder.resolve()),
                    "trusted": fs.trusted,
                    "settings": {k: _mask(k, v) for k, v in flat.items()},
                    "origins": {k: fs.origins.get(k, "default") for k in flat},
                    "problems": [str(p) for p in fs.problems],
                },
                indent=2,
            )
        )
    else:
        print(f"# folder {folder.resolve()} ({'trusted' if fs.trusted else 'not trusted'})")
        width = max(len(k) for k in flat)
        for key, value in flat.items():
            origin = fs.origins.get(key, "default")
            print(f"{origin:<40} {key:<{width}} = {json.dumps(_mask(key, value))}")
    for p in fs.problems:
        print(f"llm-lsp: configuration: {p}", file=sys.stderr)
    return 0


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in data.items():
        if isinstance(v, dict) and v:
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _parse_where(where: str) -> tuple[Path, int, int]:
    path, sep, rest = where.rpartition(":")
    path2, sep2, line = path.rpartition(":")
    if not sep or not sep2 or not line.isdigit() or not rest.isdigit():
        raise SystemExit(f"llm-lsp: expected FILE:LINE:COL (1-based), got {where!r}")
    return Path(path2), int(line), int(rest)


async def _complete(args: argparse.Namespace) -> int:
    from llm_lsp.completion.context import PositionError, position_to_offset
    from llm_lsp.completion.pipeline import CompletionInput
    from llm_lsp.privacy import is_excluded
    from llm_lsp.providers.base import ProviderError

    path, line, col = _parse_where(args.where)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"llm-lsp: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        offset = position_to_offset(text, line - 1, col - 1, "utf-32")
    except PositionError as exc:
        print(f"llm-lsp: {path}:{line}:{col}: {exc}", file=sys.stderr)
        return 2
    services, fs = _services(args, find_folder(path.parent))
    if is_excluded(str(path.resolve()), fs.folder, fs.settings.exclude):
        print(f"llm-lsp: {path} matches an exclude pattern: no completion, its text is not sent", file=sys.stderr)
        await services.http.aclose()
        return 1
    try:
        inp = CompletionInput(text=text, offset=offset, key=str(path), filename=path.name, automatic=False)
        suggestion = await services.engine.complete(inp)
    except ProviderError as exc:
        print(f"llm-lsp: {exc.message}", file=sys.stderr)
        return 2
    finally:
        await services.http.aclose()
    if args.json:
        print(
            json.dumps(
                {
                    "model": suggestion.model_id if suggestion else None,
                    "text": suggestion.text if suggestion else "",
                    "latencyMs": round(suggestion.latency_ms, 1) if suggestion else None,
                }
            )
        )
    elif suggestion is None:
        print("llm-lsp: the model had nothing to suggest here", file=sys.stderr)
        return 1
    else:
        print(f"# {suggestion.model_id}, {suggestion.latency_ms:.0f} ms", file=sys.stderr)
        sys.stdout.write(suggestion.text + "\n")
    return 0 if suggestion else 1


async def _models(args: argparse.Namespace) -> int:
    from llm_lsp.routing.status import model_json

    services, _ = _services(args, find_folder(Path.cwd()))
    try:
        models = await services.router.discover()
    finally:
        await services.http.aclose()
    if args.capability:
        models = [m for m in models if args.capability in m.capabilities]
    if args.json:
        print(
            json.dumps(
                [model_json(m) for m in models],
                indent=2,
            )
        )
        return 0 if models else 1
    for p in services.providers.values():
        n = sum(1 for m in models if m.provider == p.id)
        print(f"{p.id:<10} {p.base_url:<32} {n} model(s)", file=sys.stderr)
    if not models:
        print("llm-lsp: no models found. Is Ollama or LM Studio running? (see --base-url)", file=sys.stderr)
        return 1
    width = max(len(m.id) for m in models)
    for m in models:
        ctx = f"{m.context_length:>7}" if m.context_length else "      ?"
        loaded = "loaded" if m.loaded else ""
        print(f"{m.id:<{width}}  ctx {ctx}  {','.join(sorted(m.capabilities)):<34} {loaded}")
    return 0
