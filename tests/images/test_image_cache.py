"""The image cache's keys and hits, without building anything (fast, no tools needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from llmservice_testkit.images import build


def _tree(root: Path) -> dict[str, build.Recipe]:
    (root / "app").mkdir()
    (root / "app" / "main.py").write_text("print('hi')\n")
    (root / "Dockerfile").write_text("FROM ${BASE_IMAGE}\n")
    return {
        "base": build.Recipe("base", (), root, settings=("debian",)),
        "app": build.Recipe("app", ("Dockerfile", "app"), root, parents=("base",)),
    }


def test_a_digest_follows_the_inputs_and_the_base(tmp_path: Path) -> None:
    recipes = _tree(tmp_path)
    first = build.digests(recipes)
    assert build.digests(recipes) == first  # stable

    (tmp_path / "app" / "__pycache__").mkdir()
    (tmp_path / "app" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "app" / "x.egg-info").mkdir()
    (tmp_path / "app" / "x.egg-info" / "PKG-INFO").write_text("junk")
    assert build.digests(recipes) == first, "build debris must not change a digest"

    (tmp_path / "app" / "main.py").write_text("print('bye')\n")
    changed = build.digests(recipes)
    assert changed["app"] != first["app"]
    assert changed["base"] == first["base"]

    recipes["base"] = build.Recipe("base", (), tmp_path, settings=("debian", "more"))
    rebased = build.digests(recipes)
    assert rebased["base"] != changed["base"]
    assert rebased["app"] != changed["app"], "a new base must rebuild what is built on it"


def test_the_repositorys_recipes_cover_what_each_build_copies() -> None:
    root = build.repo_root()
    recipes = build.recipes(root)
    assert set(recipes) == set(build.REFS)
    for recipe in recipes.values():
        for name in recipe.inputs:
            assert (root / name).exists(), f"{recipe.name}: {name} is missing"
    standin = {
        str(p.relative_to(root)) for p in build._files(root, recipes["ollama-standin"].inputs)
    }
    assert "testkit/llmservice_testkit/images/ollama-standin/Dockerfile" in standin
    assert "testkit/llmservice_testkit/images/ollama_standin.py" in standin
    assert "backend_image/llmservice_backend/testing/llama_adapter.py" in standin


def test_a_full_cache_is_used_without_any_tool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    digests = build.digests(build.recipes(build.repo_root()))
    for name, ref in build.REFS.items():
        folder = build.cache_root() / f"{name}-{digests[name]}"
        folder.mkdir(parents=True)
        (folder / f"{name}.tar").write_bytes(b"archive")
        (folder / "image.json").write_text(json.dumps({"ref": ref, "image_id": "id-" + name}))

    def no_tools(names: object) -> None:
        raise AssertionError("a cache hit must not need the tools")

    monkeypatch.setattr(build, "check_host", no_tools)
    archives = build.ensure_images()
    assert list(archives) == [build.REFS[name] for name in build.NODE_IMAGES]
    assert all(path.read_bytes() == b"archive" for path in archives.values())
    assert build.ensure(["base"])["base"].image_id == "id-base"


def test_a_missing_image_needs_the_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(build.BuildUnavailable, match="needs root"):
        build.ensure(["pause"])


def test_tests_never_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(build.BuildUnavailable, match="make images"):
        build.ensure(["backend"], build=False)


def test_unknown_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown images"):
        build.ensure(["ollama"])
