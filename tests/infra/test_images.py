"""Container-image functions: which functions must be images, and that each image holds what the
zip and its layer held (checked offline: no Docker here, so the one Dockerfile is read with each
image function's build args, not built)."""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pytest

from skucast_local.template import Template, load
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def template() -> Template:
    return load(ROOT / "template.yaml")


def test_every_function_over_the_zip_limit_is_a_container_image(template: Template) -> None:
    from bench import coldstart

    # The bench's measure: each code directory's requirements and the shared layer's, closed over
    # their dependencies, from the locked environment's installed distributions, plus the code.
    for code_dir, size in coldstart.sizes().items():
        if code_dir.startswith("_"):
            continue
        assert not size["missing"], f"{code_dir}: not installed here, so not measured: {size['missing']}"
        if not size["fits_zip"]:
            kinds = {name: template.functions[name].package_type for name in size["functions"]}
            assert set(kinds.values()) == {"Image"}, (
                f"{code_dir} is {size['total_mb']} MB unzipped, over Lambda's 250 MB for a zip: {kinds}"
            )


@dataclass
class Dockerfile:
    path: Path
    build_args: dict[str, str] = field(default_factory=dict)  # what the template passes (DockerBuildArgs)
    base: str = ""
    env: dict[str, str] = field(default_factory=lambda: {"LAMBDA_TASK_ROOT": "/var/task"})  # AWS base images'
    args: set[str] = field(default_factory=set)  # declared ARGs
    copies: dict[str, str] = field(default_factory=dict)  # destination in the image -> source in the context
    runs: list[list[str]] = field(default_factory=list)
    entrypoint: str = ""

    @property
    def task_root(self) -> str:
        return self.env["LAMBDA_TASK_ROOT"]

    def expand(self, word: str) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda m: self.env.get(m.group(1), m.group(0)), word).strip("\"'")

    def declare(self, arg: str) -> None:
        """ARG NAME[=default]: the build arg's value, else the default, else unset."""
        name, has_default, default = arg.partition("=")
        self.args.add(name)
        if name in self.build_args:
            self.env[name] = self.build_args[name]
        elif has_default:
            self.env[name] = self.expand(default)


def _parse(path: Path, build_args: dict[str, str] | None = None) -> Dockerfile:
    """The Dockerfile as built with these build args: an ARG takes the arg's value (else its default)."""
    d = Dockerfile(path, dict(build_args or {}))
    for line in path.read_text().replace("\\\n", " ").splitlines():
        op, _, args = line.strip().partition(" ")
        op = op.upper()
        if op == "FROM":
            d.base = args.split()[0]
        elif op == "ENV":
            name, _, value = args.partition("=")
            d.env[name.strip()] = d.expand(value.strip())
        elif op == "ARG":
            d.declare(args.strip())
        elif op == "COPY":
            *sources, dest = [d.expand(w) for w in shlex.split(args) if not w.startswith("--")]
            for source in sources:
                target = f"{dest}{PurePosixPath(source).name}" if dest.endswith("/") else dest
                d.copies[str(PurePosixPath(target))] = str(PurePosixPath(source))
        elif op == "RUN":
            d.runs.append([d.expand(w) for w in shlex.split(args)])
        elif op == "ENTRYPOINT":
            d.entrypoint = args
    return d


@dataclass(frozen=True)
class Image:
    """One image `sam build` builds: a Dockerfile with its build args, and the functions built from it."""

    dockerfile: Path
    build_args: tuple[tuple[str, str], ...]
    functions: tuple[str, ...]

    @property
    def parsed(self) -> Dockerfile:
        return _parse(self.dockerfile, dict(self.build_args))

    @property
    def code_dir(self) -> str:
        return dict(self.build_args)["FUNCTION_DIR"]

    def __str__(self) -> str:
        return f"{self.dockerfile.relative_to(ROOT)} {dict(self.build_args)} ({', '.join(self.functions)})"


def _images(template: Template) -> list[Image]:
    """Each (Dockerfile, DockerBuildArgs) of the image functions (SAM: Dockerfile relative to DockerContext),
    with the functions built from it."""
    out: dict[tuple[Path, tuple[tuple[str, str], ...]], list[str]] = {}
    for name, fn in template.functions.items():
        if fn.package_type == "Image":
            assert fn.dockerfile, name
            out.setdefault((ROOT / fn.dockerfile, tuple(sorted(fn.build_args.items()))), []).append(name)
    return [Image(path, args, tuple(functions)) for (path, args), functions in out.items()]


def _layer_packages(template: Template) -> dict[str, str]:
    """Every package of every layer -> its directory in the repository."""
    out = {}
    for layer in template.resources("AWS::Serverless::LayerVersion").values():
        content = PurePosixPath(str(layer["Properties"]["ContentUri"]))
        for package in (ROOT / content).iterdir():
            if (package / "__init__.py").is_file():
                out[package.name] = str(content / package.name)
    return out


def test_every_image_function_is_built_from_the_one_dockerfile_with_the_repository_as_context(
    template: Template,
) -> None:
    images = _images(template)
    assert images, "no image functions"
    for name in (n for image in images for n in image.functions):
        assert template.raw["Resources"][name]["Metadata"]["DockerContext"] in (".", "./"), name
    assert {image.dockerfile for image in images} == {ROOT / "functions" / "Dockerfile"}
    # No per-function copies left to drift from it.
    assert sorted(ROOT.glob("functions/**/Dockerfile")) == [ROOT / "functions" / "Dockerfile"]


def test_every_image_is_one_function_directory_and_its_functions_share_one_build(template: Template) -> None:
    """One image per FUNCTION_DIR: functions of one directory are built with identical Metadata, so
    `sam build` builds their image once (its build definitions compare the whole Metadata)."""
    images = _images(template)
    dirs = [image.code_dir for image in images]
    assert len(dirs) == len(set(dirs)), [str(image) for image in images]
    for image in images:
        metadata = [template.raw["Resources"][name]["Metadata"] for name in image.functions]
        assert all(m == metadata[0] for m in metadata), f"{image}: Metadata differs between its functions"
        for name in image.functions:
            assert template.functions[name].code_uri == image.code_dir, name  # the local stack's code


def test_every_build_arg_is_declared_and_every_declared_arg_is_given(template: Template) -> None:
    """Docker ignores an undeclared build arg (with a warning) and leaves an ARG without a value
    empty: both would build an image missing its function's code."""
    for image in _images(template):
        d = image.parsed
        assert set(dict(image.build_args)) == d.args, f"{image}: build args vs ARGs {sorted(d.args)}"
        assert all(value for _, value in image.build_args), f"{image}: an empty build arg"


def test_every_image_is_python311_and_speaks_the_lambda_runtime_api(template: Template) -> None:
    zip_runtimes = {
        (template.raw["Resources"][name]["Properties"]).get("Runtime")
        for name, fn in template.functions.items()
        if fn.package_type == "Zip"
    }
    assert zip_runtimes == {"python3.11"}
    for image in _images(template):
        d = image.parsed
        assert re.search(r"python:3\.11(\b|-)", d.base), f"{image}: {d.base} is not Python 3.11 as the zips are"
        if not d.base.startswith("public.ecr.aws/lambda/"):  # AWS base images bring their runtime client
            assert "awslambdaric" in d.entrypoint, f"{image}: no runtime interface client as entrypoint"
            assert any(re.fullmatch(r"awslambdaric==[\d.]+", w) for run in d.runs for w in run), (
                f"{image}: the runtime interface client is not installed at a pinned version"
            )


def _pip_install_files(d: Dockerfile, options: tuple[str, ...]) -> set[str]:
    """The build-context paths of the files given to `pip install` with these options."""
    return {
        d.copies.get(run[i + 1], run[i + 1])
        for run in d.runs
        if "pip" in run[0] and "install" in run
        for i, word in enumerate(run[:-1])
        if word in options
    }


def test_every_image_installs_its_own_and_the_shared_layers_requirements(template: Template) -> None:
    for image in _images(template):
        installed = _pip_install_files(image.parsed, ("-r", "--requirement"))
        assert f"{image.code_dir}/requirements.txt" in installed, f"{image}: does not install its requirements"
        assert "layers/shared/requirements.txt" in installed, f"{image}: does not install the shared layer's"


def test_every_image_copies_its_handlers_packages_and_the_layers_into_the_task_root(template: Template) -> None:
    layers = _layer_packages(template)
    assert "skucast" in layers
    for image in _images(template):
        d = image.parsed
        handlers = {template.functions[name].handler.split(".")[0] for name in image.functions}
        for package in handlers:
            assert d.copies.get(f"{d.task_root}/{package}") == f"{image.code_dir}/{package}", f"{image}: {package}"
            assert (ROOT / image.code_dir / package / "__init__.py").is_file(), f"{image}: {package} is no package"
        for package, source in layers.items():
            assert d.copies.get(f"{d.task_root}/{package}") == source, f"{image}: layer package {package}"


def _dockerignored(path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    ignored = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        glob = pattern.lstrip("!").strip("/")
        regex = "".join(
            {"**/": "(.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(token, re.escape(token))
            for token in re.findall(r"\*\*/|\*\*|\*|\?|[^*?]+", glob)
        )
        if any(re.fullmatch(regex, prefix) for prefix in prefixes):
            ignored = not negated
    return ignored


def test_every_copy_source_exists_and_reaches_the_build_context(template: Template) -> None:
    assert _dockerignored(".venv/lib") and _dockerignored("tests/conftest.py")  # the context stays small
    assert _dockerignored("layers/shared/skucast/__pycache__/ids.cpython-311.pyc")
    for image in _images(template):
        for source in image.parsed.copies.values():
            assert "$" not in source, f"{image}: COPY {source}: a variable no build arg sets"
            assert (ROOT / source).exists(), f"{image}: COPY {source}: no such file in the repository"
            assert not _dockerignored(source), f"{image}: COPY {source}: excluded by .dockerignore"


def test_every_image_installs_under_the_constraints_and_they_match_uv_lock(template: Template, tmp_path: Path) -> None:
    """Transitive dependencies (statsmodels, pydantic-core, ...) are held to uv.lock's versions, so
    an image built next month installs what the tests ran with."""
    for image in _images(template):
        constraints = _pip_install_files(image.parsed, ("-c", "--constraint"))
        assert constraints == {"layers/shared/constraints.txt"}, f"{image}: installs under {constraints or 'nothing'}"
    fresh = tmp_path / "constraints.txt"
    subprocess.run(["make", "-s", "constraints", f"CONSTRAINTS={fresh}"], cwd=ROOT, check=True)
    assert (ROOT / "layers/shared/constraints.txt").read_text() == fresh.read_text(), (
        "layers/shared/constraints.txt is not uv.lock's: run make constraints"
    )
