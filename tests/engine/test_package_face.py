"""What the dashboard imports comes from ``simengine`` itself: the estimate, its text
and the objectives' value formatting, loaded on first use (a run's start-up does not
pay for them), whatever was imported before."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_package_face_exports_the_estimate_and_value_formatting():
    import simengine
    from simengine.analytic import estimate, format_estimate
    from simengine.objectives import format_value

    assert simengine.estimate is estimate
    assert simengine.format_estimate is format_estimate
    assert simengine.format_value is format_value
    assert {"estimate", "format_estimate", "format_value"} <= set(simengine.__all__)


def test_importing_simengine_does_not_import_the_estimate():
    assert (
        _python("import sys, simengine\nprint('simengine.analytic' in sys.modules)")
        == "False"
    )


def test_the_estimate_stays_a_function_when_its_package_was_imported_first():
    # the package is simengine.analytic, so importing it binds no name that
    # shadows the function
    out = _python(
        "import types\n"
        "import simengine.analytic\n"
        "from simengine.analytic import format_estimate\n"
        "from simengine import estimate\n"
        "import simengine\n"
        "print(isinstance(estimate, types.FunctionType),\n"
        "      isinstance(simengine.estimate, types.FunctionType))\n"
    )
    assert out == "True True"


def test_the_face_still_refuses_unknown_names():
    import simengine

    try:
        simengine.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("an unknown name was answered")
    assert isinstance(simengine.document, types.ModuleType)
