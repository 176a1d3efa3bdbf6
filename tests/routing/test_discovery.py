"""Package discovery: router.include("dotted.package")."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chatkit_handlers import ActionRouter
from chatkit_handlers.errors import RegistrationError

HANDLER = """
from chatkit_handlers import on_action

@on_action("{type}", streaming=False)
async def {name}() -> None: ...
"""

MakePackage = Callable[[str, dict[str, str]], str]


@pytest.fixture
def make_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakePackage]:
    """Write a package of modules under tmp_path and make it importable; forget it afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    names: list[str] = []

    def make(name: str, files: dict[str, str]) -> str:
        names.append(name)
        for relative, source in files.items():
            path = tmp_path / name / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(source))
        return name

    yield make
    for module in list(sys.modules):
        if any(module == n or module.startswith(n + ".") for n in names):
            del sys.modules[module]


def test_package_modules_are_included_in_sorted_order(make_package: MakePackage) -> None:
    # Written out of order: the table must follow dotted names, not the file system.
    name = make_package(
        "disc_order",
        {
            "zeta.py": HANDLER.format(type="z.last", name="last"),
            "__init__.py": HANDLER.format(type="init.first", name="first"),
            "sub/__init__.py": "",
            "sub/beta.py": HANDLER.format(type="sub.beta", name="beta"),
            "alpha.py": HANDLER.format(type="a.alpha", name="alpha"),
            "helpers.py": "def not_a_handler(): ...\n",
        },
    )
    router = ActionRouter()
    router.include(name)
    assert [route.type for route in router.routes()] == ["init.first", "a.alpha", "sub.beta", "z.last"]
    assert router.lookup("sub.beta").handler.__module__ == "disc_order.sub.beta"  # type: ignore[union-attr]


def test_module_level_routers_are_included_once(make_package: MakePackage) -> None:
    name = make_package(
        "disc_routers",
        {
            "__init__.py": "",
            "cart.py": """
                from chatkit_handlers import ActionRouter

                router = ActionRouter(prefix="cart.")

                @router.on_action("add", streaming=False)
                async def add() -> None: ...
            """,
            # Imports cart's router and includes it in its own: cart's is then not included again.
            "shop.py": """
                from chatkit_handlers import ActionRouter
                from .cart import router as cart_router

                router = ActionRouter(prefix="shop.")
                router.include(cart_router)

                @router.on_action("pay", streaming=False)
                async def pay() -> None: ...
            """,
        },
    )
    root = ActionRouter()
    root.include(name, prefix="app.")
    assert [route.type for route in root.routes()] == ["app.shop.cart.add", "app.shop.pay"]


def test_including_a_package_twice_is_an_error(make_package: MakePackage) -> None:
    name = make_package("disc_twice", {"__init__.py": "", "a.py": HANDLER.format(type="a", name="a")})
    router = ActionRouter()
    router.include(name)
    with pytest.raises(RegistrationError, match=r"module 'disc_twice' is already included.*included twice"):
        router.include(name)
    assert len(router) == 1


def test_a_single_module_by_dotted_name(make_package: MakePackage) -> None:
    name = make_package("disc_single", {"__init__.py": "", "a.py": HANDLER.format(type="a", name="a")})
    router = ActionRouter()
    router.include(f"{name}.a")
    assert [route.type for route in router.routes()] == ["a"]


def test_discovery_cycle_is_an_error(make_package: MakePackage) -> None:
    # The package's own module includes the package while it is being imported.
    name = make_package(
        "disc_cycle",
        {
            "__init__.py": "",
            "app.py": """
                from chatkit_handlers import ActionRouter

                router = ActionRouter()
                router.include("disc_cycle")
            """,
            "handlers.py": HANDLER.format(type="h", name="h"),
        },
    )
    with pytest.raises(
        RegistrationError, match=r"discovery cycle: module 'disc_cycle.app' is still being imported"
    ):
        __import__(f"{name}.app")


def test_missing_broken_and_empty_packages(make_package: MakePackage) -> None:
    with pytest.raises(RegistrationError, match="no module or package named 'disc_nowhere'"):
        ActionRouter().include("disc_nowhere")
    broken = make_package(
        "disc_broken", {"__init__.py": "", "sub/__init__.py": "import disc_missing_dependency\n"}
    )
    with pytest.raises(
        RegistrationError, match=r"importing 'disc_broken.sub' failed.*disc_missing_dependency"
    ):
        ActionRouter().include(broken)
    empty = make_package("disc_empty", {"__init__.py": "", "helpers.py": "X = 1\n"})
    with pytest.raises(RegistrationError, match="package 'disc_empty' defines no @on_action handler"):
        ActionRouter().include(empty)
