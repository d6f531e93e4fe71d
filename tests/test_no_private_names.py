"""No module in `app/` reaches into another library's private parts.

A name with a leading underscore is a library's internals: the next release may rename it or
change what it does, without notice and without a deprecation. Tsudoi uses libraries through
what they document, so this test reads every module's syntax tree and refuses:

* importing an underscore name from a third-party package, or from a private module of one
  (`from gunicorn.workers.base import _x`, `from flask_babel._internal import y`);
* reading or setting an underscore attribute of something imported from a third-party package
  (`SecureCookieSessionInterface._private`, `gthread._accepting`);
* a subclass of a third-party class that defines an underscore method or attribute, which is
  how one overrides a library's internals (`class W(ThreadWorker): def _run(self)`).

Dunder names (`__init__`, `__version__`) are the language's protocols, not anyone's privates.
A few underscore names are a library's documented extension points, and are allowed by name
(`DOCUMENTED`), each with where its library documents it.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent.parent / "app"

DOCUMENTED = {
    # marshmallow, "Custom Fields": subclass a Field and override _serialize / _deserialize.
    "_deserialize", "_serialize",
    # WTForms, "Custom Fields": a field's _value() gives the text its widget shows.
    "_value",
    # Flask, "Notes On Proxies": current_app._get_current_object() (werkzeug's LocalProxy).
    "_get_current_object",
}


def is_private(name: str) -> bool:
    return (name.startswith("_") and not (name.startswith("__") and name.endswith("__"))
            and name not in DOCUMENTED)


def is_third_party(module: str) -> bool:
    top = module.split(".")[0]
    return top not in ("app", "__future__") and top not in sys.stdlib_module_names


def problems_in(source: str, where: str = "<module>") -> list[str]:
    """What in this module's source touches a third-party library's private names."""
    tree = ast.parse(source)
    found: list[str] = []
    foreign: set[str] = set()  # local names bound to third-party modules, classes, functions
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if is_third_party(alias.name):
                    if any(is_private(part) for part in alias.name.split(".")):
                        found.append(f"{where}:{node.lineno} imports {alias.name}")
                    foreign.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if not is_third_party(node.module):
                continue
            if any(is_private(part) for part in node.module.split(".")):
                found.append(f"{where}:{node.lineno} imports from {node.module}")
            for alias in node.names:
                if is_private(alias.name):
                    found.append(f"{where}:{node.lineno} imports {node.module}.{alias.name}")
                foreign.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and is_private(node.attr):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in foreign:
                found.append(f"{where}:{node.lineno} uses {ast.unparse(node)}")
        elif isinstance(node, ast.ClassDef):
            bases = [base for base in node.bases
                     if (root := _root_name(base)) is not None and root in foreign]
            if not bases:
                continue
            for statement in node.body:
                for name in _names_defined(statement):
                    if is_private(name):
                        found.append(f"{where}:{statement.lineno} {node.name} overrides "
                                     f"{name} of {ast.unparse(bases[0])}")
    return found


def _root_name(expression: ast.expr) -> str | None:
    while isinstance(expression, ast.Attribute | ast.Subscript | ast.Call):
        expression = expression.value if not isinstance(expression, ast.Call) else expression.func
    return expression.id if isinstance(expression, ast.Name) else None


def _names_defined(statement: ast.stmt) -> list[str]:
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
        return [statement.name]
    if isinstance(statement, ast.Assign):
        return [target.id for target in statement.targets if isinstance(target, ast.Name)]
    if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
        return [statement.target.id]
    return []


def test_no_module_in_app_uses_a_librarys_private_names() -> None:
    modules = sorted(APP.rglob("*.py"))
    assert len(modules) > 50  # the walk found the application
    found = [problem for path in modules
             for problem in problems_in(path.read_text(encoding="utf-8"),
                                        str(path.relative_to(APP.parent)))]
    assert found == []


@pytest.mark.parametrize("source", [
    "from gunicorn.workers.gthread import ThreadWorker\n"
    "class Balanced(ThreadWorker):\n"
    "    def _wrap_future(self, fs, conn):\n"
    "        pass\n",
    "from flask.sessions import SecureCookieSessionInterface\n"
    "class Kept(SecureCookieSessionInterface):\n"
    "    _serializers = {}\n",
    "from sqlalchemy.engine import _processors\n",
    "from sqlalchemy.sql.compiler import _CompileLabel\n",
    "import flask_babel._internal\n",
    "from gunicorn.workers import gthread\n"
    "def accepting(worker):\n"
    "    return gthread.ThreadWorker._accepting\n",
    "import redis\n"
    "redis.client._private_helper()\n",
])
def test_each_kind_of_reaching_in_is_found(source: str) -> None:
    assert problems_in(source) != []


@pytest.mark.parametrize("source", [
    "from flask import Flask\n"
    "class Tsudoi(Flask):\n"
    "    def __init__(self):\n"
    "        super().__init__(__name__)\n",
    "import threading\n"
    "local = threading._local\n",  # the standard library is out of scope
    "from app.database import _private\n",  # our own modules may share what they like
    "class Mine:\n"
    "    def _helper(self):\n"
    "        return self._value\n",
    "import sqlalchemy\n"
    "version = sqlalchemy.__version__\n",
])
def test_our_own_privates_and_dunder_names_are_fine(source: str) -> None:
    assert problems_in(source) == []
