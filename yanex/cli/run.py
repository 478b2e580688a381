"""``yanex run SCRIPT``: run one script as a tracked experiment, echoing its output live.

Only Typer is imported at module level: ``yanex --help`` must not pay for the store, SQLAlchemy,
gitpython or pyyaml, which the command imports when it runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from types import FrameType

    from yanex.runner.launch import ExperimentProcess


def parse_param(text: str) -> tuple[list[str], Any]:
    """``KEY=VALUE`` into the dotted key's parts and the value, read as ``yanex.cli.config_text`` says."""
    from yanex.cli.config_text import InputError, load_yaml
    from yanex.errors import ConfigError

    key, sep, raw = text.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(part.strip() for part in parts):
        raise ConfigError(
            f"--param {text!r} is not KEY=VALUE",
            hint="write it like --param learning_rate=0.01 or --param model.layers=[64,32]",
        )
    try:
        value = load_yaml(raw)
    except InputError as error:
        raise ConfigError(
            f"--param {text!r}: the value is not valid YAML data ({error.problem})",
            hint=error.hint or f"quote it to pass a string: --param '{key}=\"{raw}\"'",
        ) from None
    return [part.strip() for part in parts], value


def params_to_config(params: list[str]) -> dict[str, Any]:
    """Nested config from ``--param`` options; dotted keys build nested sections."""
    from yanex.errors import ConfigError

    config: dict[str, Any] = {}
    for text in params:
        parts, value = parse_param(text)
        node = config
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                section = ".".join(parts[: depth + 1])
                raise ConfigError(
                    f"--param {text!r}: {section} is already set to a value, not a section",
                    hint=f"set either {section} or keys below it, not both",
                )
            node = child
        if isinstance(node.get(parts[-1]), dict) and not isinstance(value, dict):
            raise ConfigError(
                f"--param {text!r}: {'.'.join(parts)} already has keys below it",
                hint=f"set either {'.'.join(parts)} or keys below it, not both",
            )
        node[parts[-1]] = value
    return config


def load_config_file(path: Path) -> dict[str, Any]:
    """A YAML or JSON mapping of parameters; an empty file means no parameters."""
    from yanex.cli.config_text import InputError, load_json, load_yaml
    from yanex.errors import ConfigError

    hint = "pass a YAML or JSON file whose top level is a mapping of parameter names to values"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist", hint=hint) from None
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise ConfigError(f"cannot read config file {path}: {reason}", hint=hint) from None
    try:
        data = load_json(text) if path.suffix.lower() == ".json" else load_yaml(text)
    except InputError as error:
        raise ConfigError(
            f"config file {path} is not valid {_format(path)}: {error}", hint=error.hint or hint
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} holds a {type(data).__name__}, not a mapping", hint=hint)
    return data


def _format(path: Path) -> str:
    return "JSON" if path.suffix.lower() == ".json" else "YAML"


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``: sections merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _terminal_signalled_our_group() -> bool:
    """True when our process group is the terminal's foreground group.

    Then a Ctrl-C reached the script directly (it shares our group), and forwarding it would deliver
    a second KeyboardInterrupt while the script is still handling the first. The price: a
    ``kill -INT`` aimed at yanex alone while it runs in the foreground is not passed on (SIGTERM
    always is).
    """
    try:
        tty = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
    except OSError:  # no controlling terminal: the signal came from kill, not from a keyboard
        return False
    try:
        return os.tcgetpgrp(tty) == os.getpgrp()
    except OSError:
        return False
    finally:
        os.close(tty)


class _SignalForwarder:
    """Passes SIGINT and SIGTERM to the script so that it ends, and is recorded, as cancelled.

    Escalates for a script that ignores them: the first Ctrl-C is the script's own SIGINT; the
    second sends SIGTERM and SIGKILL after the grace (``YANEX_KILL_GRACE``, 10 s); a third kills at
    once. SIGTERM to yanex sends SIGTERM, then SIGKILL after the grace.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)
    TERMINATED = "terminated: yanex run received SIGTERM"

    def __init__(self, process: ExperimentProcess) -> None:
        self.process = process
        self.pending: int | None = None
        self.interrupts = 0
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _SignalForwarder:
        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *_exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.process.pid is None:  # not started yet: deliver once it is
            self.pending = signum
        else:
            self._deliver(signum)

    def _deliver(self, signum: int) -> None:
        if self.process.poll() is not None:
            return
        if signum == signal.SIGTERM:
            if not self.process.interrupted:
                self.process.cancel_reason = self.TERMINATED
            self.process.terminate()
            return
        self.interrupts += 1
        if self.interrupts == 1:
            if _terminal_signalled_our_group():
                self.process.interrupted = True
            else:
                self.process.send_signal(signum)
        elif self.interrupts == 2:
            _note(
                f"yanex: stopping the script: SIGTERM, then SIGKILL in {self.process.grace:g} s "
                "(Ctrl-C again to kill it now)"
            )
            self.process.terminate()
        else:
            self.process.send_signal(signal.SIGKILL)

    def deliver_pending(self) -> None:
        if self.pending is not None:
            self._deliver(self.pending)


def _note(text: str) -> None:
    """A line on stderr from a signal handler: one os.write, never re-entering a buffered stream."""
    with contextlib.suppress(OSError):
        os.write(2, (text + "\n").encode(errors="replace"))


_SPEC_HINTS = {
    "tags": "give each --tag a non-empty word that is valid UTF-8",
    "config": "parameters must be JSON data (numbers, strings, booleans, lists and mappings), "
    "each named once, in valid UTF-8",
    "script_path": "rename the script or its folder so that the path is valid UTF-8",
    "name": "pass a non-empty --name that is valid UTF-8",
    "description": "pass a --description that is valid UTF-8",
    "timeout": "write --timeout as seconds or a duration, e.g. --timeout 90, 5m, 2h or 1h30m",
    "script_args": "pass script arguments that are valid UTF-8",
}


def _script_file(script: Path) -> Path:
    from yanex.errors import UsageError

    if not script.exists():
        raise UsageError(
            f"script {script} does not exist", hint="check the path to the script you want to run"
        )
    if not script.is_file():
        raise UsageError(f"{script} is not a file", hint="pass the path of a Python script")
    return script.resolve()


def run(
    script: Annotated[
        Path, typer.Argument(metavar="SCRIPT", help="The Python script to run.", show_default=False)
    ],
    script_args: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="SCRIPT_ARGS",
            help="Arguments for the script, after `--`; it sees them in sys.argv.",
            show_default=False,
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            metavar="KEY=VALUE",
            help="Set a parameter. VALUE is read as YAML with JSON's scalars only (numbers, true/false, "
            "null, lists such as [64,32]); anything else, 12:30:00 or yes, stays text. Dotted keys nest "
            "(model.lr=0.1). Overrides --config. Repeatable.",
            show_default=False,
        ),
    ] = None,
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", metavar="FILE", help="A YAML or JSON file of parameters.", show_default=False
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", "-n", metavar="NAME", help="A name for the experiment.")
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option(
            "--tag", "-t", metavar="TAG", help="Tag the experiment. Repeatable.", show_default=False
        ),
    ] = None,
    description: Annotated[
        str | None, typer.Option("--description", "-d", metavar="TEXT", help="What this experiment is for.")
    ] = None,
    timeout: Annotated[
        str | None,
        typer.Option(
            "--timeout",
            metavar="DURATION",
            help="Stop the script after DURATION (90, 90s, 5m, 2h, 1h30m) and record it failed: "
            "SIGTERM, then SIGKILL after YANEX_KILL_GRACE seconds (10).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run SCRIPT as a tracked experiment and exit with its exit code (124 past --timeout).

    Its output is shown live and saved in the experiment's folder; Ctrl-C stops it as cancelled
    (a second Ctrl-C sends SIGTERM, then SIGKILL; a third kills it at once). Whatever the script
    started is killed when it ends.

    In the script, yanex.get_param() reads parameters and yanex.log_metrics() records metrics.

    Examples:

        yanex run train.py --param learning_rate=0.01 --param model.layers=[64,32]

        yanex run train.py --config sweep.yaml --tag baseline -- --epochs 5
    """
    from pydantic import ValidationError

    from yanex.db.engine import Database
    from yanex.errors import ConfigError
    from yanex.runner.environment import capture_environment, this_process
    from yanex.runner.git import capture_git
    from yanex.runner.launch import ExperimentProcess, LaunchRequest, OutputMode, kill_grace
    from yanex.runner.reaper import become_subreaper
    from yanex.specs import ExperimentSpec, Status
    from yanex.store.experiments import create_experiments
    from yanex.store.reconcile import reconcile_orphans

    script_path = _script_file(script)
    config = load_config_file(config_file) if config_file is not None else {}
    config = deep_merge(config, params_to_config(param or []))
    try:
        spec = ExperimentSpec(
            script_path=script_path,
            config=config,
            script_args=script_args or [],
            name=name,
            tags=tag or [],
            description=description,
            timeout=timeout,
        )
    except ValidationError as error:
        first = error.errors()[0]
        field = first["loc"][0] if first["loc"] else None
        raise ConfigError(
            str(first["msg"]).removeprefix("Value error, "), hint=_SPEC_HINTS.get(str(field))
        ) from None

    kill_grace()  # a bad YANEX_KILL_GRACE is refused before anything is written
    become_subreaper()  # this process supervises the script: its orphans come back here to die
    db = Database()
    reconcile_orphans(db)
    owner = this_process()
    [experiment_id] = create_experiments(
        db,
        [spec],
        status=Status.CREATED,
        owner=owner,
        git=capture_git(script_path),
        environment=capture_environment(),
    )
    request = LaunchRequest(
        experiment_id,
        script_path,
        tuple(spec.script_args),
        spec.config,
        spec.name,
        cwd=Path.cwd(),
        time_limit=spec.time_limit,
    )
    process = ExperimentProcess(db, request, owner, output=OutputMode.ECHO, own_session=False)
    with _SignalForwarder(process) as forwarder:
        process.start()
        forwarder.deliver_pending()
        outcome = process.wait()

    summary = f"yanex: experiment {experiment_id} {outcome.status.value}"
    if outcome.status is Status.COMPLETED and outcome.duration is not None:
        summary += f" in {outcome.duration:.2f} s"
    elif outcome.error_message:
        summary += f": {outcome.error_message}"
    typer.echo(summary, err=True)
    # A timeout exits 124, as timeout(1) does, whatever the script's own status after SIGTERM.
    raise typer.Exit(124 if process.timed_out else outcome.exit_code or 0)
